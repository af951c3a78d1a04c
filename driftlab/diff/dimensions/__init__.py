"""Named behavior dimensions of a text (length, refusal, hedging, ...) and their A-vs-B shifts.

A registry like monitors: `builtin.py` registers the shipped ones; a user's file registers
more (`DIMENSIONS.register(Dimension(...))`), loaded by `load_files`.
"""

from driftlab.diff.dimensions import builtin  # noqa: F401  (register)
from driftlab.diff.dimensions.base import DIMENSIONS, Dimension, load_files

__all__ = ["DIMENSIONS", "Dimension", "load_files"]
