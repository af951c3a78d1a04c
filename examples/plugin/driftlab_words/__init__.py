"""An example driftlab plugin: each module is one registered item (see pyproject.toml)."""
