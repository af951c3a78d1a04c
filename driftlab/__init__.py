"""driftlab: run self-improvement loops on language models and supervise every round."""

__version__ = "0.1.0"
