"""User-facing errors: the CLI prints these as one message, never a traceback."""


class DriftlabError(Exception):
    """An error the user can fix (bad config, missing model, bad file)."""


class ConfigError(DriftlabError):
    """The configuration is invalid; the message names the key."""
