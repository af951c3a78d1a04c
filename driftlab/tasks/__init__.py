"""Tasks: where a loop's questions come from and how its answers are scored.

`build_task("arithmetic", steps=2)` makes a task from a config; a new task is one module that
registers itself in TASKS, plus one import line below (or, from another package, one entry
point in the "driftlab.tasks" group).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from driftlab.registry import Registry
from driftlab.sections import build_from_settings
from driftlab.tasks.base import Exemplar, Problem, Question, Task

# Defined before the task modules are imported: each registers itself here on import. Other
# installed packages add tasks (a Task class or factory) under "driftlab.tasks" entry points.
TASKS: Registry[Callable[..., Task]] = Registry("task", "driftlab.tasks")

from driftlab.tasks import (  # noqa: E402,F401  (registration)
    arithmetic,
    gsm8k,
    instructions,  # noqa: E402,F401  (registers "instructions")
    jsonl,
)


def build_task(name: str, /, *, config_keys: Sequence[str] = (), **settings: Any) -> Task:
    """The task `name` configured with `settings`, checked against its factory's signature.

    The one way a task is made, from code or from a config's `[task]` section (whose own keys,
    `config_keys`, are named beside the task's in an error). Unknown names or settings, and
    settings of the wrong type, raise one ConfigError.
    """
    return build_from_settings(TASKS.get(name), settings, "task", extra_keys=tuple(config_keys))


__all__ = ["TASKS", "Exemplar", "Problem", "Question", "Task", "build_task"]
