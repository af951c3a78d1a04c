"""Unsupervised behavioral diff: what changed between two models, found, named and validated.

sampling -> embedding -> clustering -> stats (Fisher + BH) -> labeling -> validation
(held-out prompts, judge in both orders, permutation p, BH) -> ranking; beside them a
classifier baseline and the per-text log-prob ratio. Schema: docs/artifacts-diff.md.
Imports are lazy: registering the monitor must not pull in scikit-learn.
"""

from driftlab.diff.settings import DiffSettings

__all__ = ["DiffSettings", "ModelPool", "run_diff"]


def __getattr__(name: str):
    if name in ("ModelPool", "run_diff"):
        from driftlab.diff import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
