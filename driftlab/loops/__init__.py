"""Self-improvement methods, one module each, registered by name (config: [loop] method = ...)."""

from driftlab.loops import (  # noqa: F401  (register)
    constitutional,
    lmsi,  # noqa: F401  (registers "lmsi")
    red_team,
    self_rewarding,
)
from driftlab.loops.base import LOOPS, Loop, LoopTask, RoundContext, RoundData

__all__ = ["LOOPS", "Loop", "LoopTask", "RoundContext", "RoundData"]
