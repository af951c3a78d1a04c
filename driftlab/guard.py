"""Tripwires: rules over each round's metrics that stop a loop going off the rails.

A rule reads like the comparison it makes, against round 0 (`baseline`), the round before
(`previous`) or a constant:

    capability.accuracy < baseline - 0.05
    diversity.distinct_2 < 0.7 * baseline
    reference_ppl.ppl > previous * 1.2
    capability.no_answer_rate > 0.5

When a rule fires, the round's model is not promoted; the run halts, or rolls back to the
best round so far and goes on from there (config `action`).
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from driftlab.errors import ConfigError

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
REFS = ("baseline", "previous")
_NUM = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_RULE = re.compile(
    rf"^\s*(?P<metric>[A-Za-z_][\w.]*)\s*(?P<op><=|>=|<|>)\s*(?:"
    rf"(?P<const>{_NUM})"
    rf"|(?:(?P<lfactor>{_NUM})\s*\*\s*)?(?P<ref>baseline|previous)"
    rf"(?:\s*\*\s*(?P<rfactor>{_NUM}))?(?:\s*(?P<sign>[-+])\s*(?P<offset>{_NUM}))?"
    rf")\s*$"
)


@dataclass(frozen=True)
class Rule:
    text: str
    metric: str
    op: str
    ref: str | None  # None: compare with a constant
    factor: float = 1.0
    offset: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Rule:
        m = _RULE.match(text)
        if not m:
            raise ValueError(
                f"cannot read rule {text!r}; write METRIC OP THRESHOLD, e.g. "
                "'capability.accuracy < baseline - 0.05', 'diversity.distinct_2 < 0.7 * baseline' "
                "or 'capability.no_answer_rate > 0.5' (OP is one of < <= > >=; "
                "references: baseline, previous)"
            )
        if m["const"] is not None:
            return cls(text, m["metric"], m["op"], None, 0.0, float(m["const"]))
        factor = float(m["lfactor"] or 1.0) * float(m["rfactor"] or 1.0)
        offset = float(m["offset"] or 0.0) * (-1 if m["sign"] == "-" else 1)
        return cls(text, m["metric"], m["op"], m["ref"], factor, offset)

    def threshold(self, baseline: dict[str, Any], previous: dict[str, Any]) -> float | None:
        if self.ref is None:
            return self.offset
        ref = (baseline if self.ref == "baseline" else previous).get(self.metric)
        if not isinstance(ref, (int, float)) or math.isnan(ref):
            return None
        return self.factor * ref + self.offset

    def check(
        self, current: dict[str, Any], baseline: dict[str, Any], previous: dict[str, Any]
    ) -> dict | None:
        """The evidence if the rule fires on `current`, else None. Missing metrics never fire."""
        value = current.get(self.metric)
        limit = self.threshold(baseline, previous)
        if not isinstance(value, (int, float)) or math.isnan(value) or limit is None:
            return None
        if OPS[self.op](value, limit):
            return {
                "rule": self.text,
                "metric": self.metric,
                "value": value,
                "threshold": limit,
                "reference": self.ref,
                "reference_value": (baseline if self.ref == "baseline" else previous).get(
                    self.metric
                )
                if self.ref
                else None,
            }
        return None


class GuardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[str] = Field(default_factory=list, description="tripwire rules, see driftlab.guard")
    action: Literal["halt", "rollback"] = "halt"
    best_metric: str = Field(
        "capability.accuracy", description="what 'best round' means for rollback"
    )
    best_mode: Literal["max", "min"] = "max"

    @field_validator("rules")
    @classmethod
    def _parse(cls, rules: list[str]) -> list[str]:
        for r in rules:
            Rule.parse(r)
        return rules

    def parsed(self) -> list[Rule]:
        return [Rule.parse(r) for r in self.rules]

    def check_metrics(self, known: list[str]) -> None:
        """Every rule (and, for rollback, best_metric) names a metric the run reports.

        A rule on a metric nobody reports could never fire: a silent tripwire is worse than
        none, so it is a config error that names the nearest known metric.
        """
        named = [("guard.rules", r.metric, f" (rule {r.text!r})") for r in self.parsed()]
        if self.action == "rollback":
            named.append(("guard.best_metric", self.best_metric, ""))
        problems = [
            f"{key}: {msg}{rule}"
            for key, metric, rule in named
            if (msg := unknown_metric(metric, known))
        ]
        if problems:
            raise ConfigError("\n".join(problems))


def unknown_metric(metric: str, known: list[str]) -> str | None:
    """None if `metric` is one of `known` (where `*` matches any part), else what is wrong."""
    if any(fnmatchcase(metric, k) for k in known):
        return None
    near = difflib.get_close_matches(metric, known, n=1, cutoff=0.6)
    hint = f"; did you mean {near[0]}?" if near else ""
    prefix = metric.partition(".")[0] + "."
    if not near:
        same = [k for k in known if k.startswith(prefix)]
        hint = (
            f"; {prefix[:-1]} reports: {', '.join(same)}"
            if same
            else f"; no enabled monitor is called {prefix[:-1]!r}"
        )
    return f"unknown metric {metric}{hint}"


def describe(hit: dict) -> str:
    """The sentence the CLI and run.json give for a fired rule."""
    ref = f" ({hit['reference']} {hit['reference_value']:.4g})" if hit.get("reference") else ""
    return (
        f"rule '{hit['rule']}' fired at round {hit['round']}: "
        f"{hit['metric']} = {hit['value']:.4g}, "
        f"threshold {hit['threshold']:.4g}{ref}"
    )


@dataclass(frozen=True)
class Decision:
    """What the guard decided about round k: the engine obeys it.

    `continue`: round k is promoted and the next round starts from it; `halt`: the run stops
    and the final model is `head`'s; `rollback`: the run goes on from `head`, the best round.
    """

    action: Literal["continue", "halt", "rollback"]
    round: int
    head: int  # the promoted round the next round starts from (or, on halt, the final one)
    hits: list[dict] = field(default_factory=list)

    @property
    def reason(self) -> str:
        """The fired rules, in words ("" when the round is promoted)."""
        return "; ".join(describe(h) for h in self.hits)

    def promotion(self) -> dict[str, Any]:
        """The round's row fields: whether it was promoted, where the run goes next, and why."""
        if self.action == "continue":
            return {"promoted": True, "head": self.head}
        return {"promoted": False, "head": self.head, "guard": [describe(h) for h in self.hits]}

    def stop(self, **extra: Any) -> dict[str, Any]:
        """run.json's `halt` record of a round that stopped the run: the rules, the final round
        (`head`) and why. A supervisor stops on a rollback too: another process trains."""
        return {
            "round": self.round,
            "action": self.action,
            "hits": self.hits,
            "final_round": self.head,
            **extra,
            "message": self.reason,
        }

    def run_fields(self, rollbacks: list[dict]) -> dict[str, Any]:
        """What run.json records of the decision: a halt, or `rollbacks` with one more event."""
        if self.action == "halt":
            return {"halt": self.stop()}
        if self.action == "rollback":
            event = {
                "round": self.round,
                "hits": self.hits,
                "restored_round": self.head,
                "message": self.reason,
            }
            return {"rollbacks": [*rollbacks, event]}
        return {}


def decide(
    k: int,
    hits: list[dict],
    action: Literal["halt", "rollback"],
    head: int,
    best: Callable[[], int],
) -> Decision:
    """Round k's fate from the tripwires it fired (`hits`): promoted when none fired; else
    halt at `head`, the last promoted round, or roll back to `best()`, the best round so far."""
    if not hits:
        return Decision("continue", k, k)
    if action == "halt":
        return Decision("halt", k, head, hits)
    return Decision("rollback", k, best(), hits)
