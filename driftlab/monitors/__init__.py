"""Monitors, registered by name; each runs every round (config: [monitors.NAME])."""

from driftlab.monitors import capability, diff, diversity, judge, probes, reference_ppl  # noqa: F401  (register)
from driftlab.monitors.base import (
    MONITORS,
    Column,
    MeasureContext,
    Monitor,
    MonitorConfig,
    MonitorResult,
)

__all__ = ["MONITORS", "Column", "MeasureContext", "Monitor", "MonitorConfig", "MonitorResult"]
