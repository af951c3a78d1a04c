"""Tasks: where a loop's questions come from and how its answers are scored.

`build_task("arithmetic", steps=2)` makes a task from a config; a new task is one module that
registers itself in TASKS, plus one import line below.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from driftlab.errors import ConfigError
from driftlab.registry import Registry
from driftlab.tasks.base import Exemplar, Problem, Question, Task

# Defined before the task modules are imported: each registers itself here on import.
TASKS: Registry[Callable[..., Task]] = Registry("task")

from driftlab.tasks import (  # noqa: E402,F401  (registration)
    arithmetic,
    gsm8k,
    instructions,  # noqa: E402,F401  (registers "instructions")
    jsonl,
)


def build_task(name: str, **settings: object) -> Task:
    """The task `name` configured with `settings`; unknown names or settings raise ConfigError."""
    factory = TASKS.get(name)
    params = inspect.signature(factory).parameters
    unknown = sorted(set(settings) - set(params))
    if unknown:
        raise ConfigError(
            f"task {name!r} has no setting {', '.join(map(repr, unknown))}; "
            f"its settings are: {', '.join(params) or '(none)'}"
        )
    required = [p for p, v in params.items() if v.default is inspect.Parameter.empty]
    missing = [p for p in required if p not in settings]
    if missing:
        raise ConfigError(f"task {name!r} needs the setting {', '.join(map(repr, missing))}")
    return factory(**settings)


__all__ = ["TASKS", "Exemplar", "Problem", "Question", "Task", "build_task"]
