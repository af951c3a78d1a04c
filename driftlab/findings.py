"""Findings: what a loop or monitor noticed, in words, with the figures behind it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass
class Finding:
    source: str  # the loop or monitor that noticed it
    message: str
    severity: Literal["info", "warning", "alert"] = "info"
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
