"""Self-improvement methods, one module each, registered by name (config: [loop] method = ...)."""

from driftlab.loops.base import LOOPS, Loop, LoopTask, RoundContext, RoundData
from driftlab.loops import lmsi  # noqa: F401  (registers "lmsi")
from driftlab.loops import constitutional, red_team, self_rewarding  # noqa: F401  (register)

__all__ = ["LOOPS", "Loop", "LoopTask", "RoundContext", "RoundData"]
