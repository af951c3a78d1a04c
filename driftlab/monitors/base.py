"""The monitor protocol, after scikit-learn's estimator contract.

`__init__` stores settings; `fit(baseline)` takes round 0's stored result (None while
measuring round 0 itself) and returns self; `score(ctx)` measures one model. Results are
plain data, stored per round, so a resumed run refits from disk. `metric_names(config)`
lists every metric `score` may report, so guard rules are checked when a config loads.
`MeasureContext` holds the model under measurement and a sample cache the monitors share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field

from driftlab.errors import DriftlabError
from driftlab.findings import Finding
from driftlab.models.base import Chat, Completion, Generator, SamplingParams
from driftlab.registry import Registry
from driftlab.tasks.base import Problem, Task


class MonitorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True


class EvalSampling(MonitorConfig):
    """How monitors sample the held-out set. Equal settings share one generation."""

    samples: int = Field(4, ge=1, description="samples per held-out question")
    temperature: float = Field(0.7, gt=0)
    top_p: float = Field(0.95, gt=0, le=1)
    max_new_tokens: int = Field(128, ge=1)


@dataclass
class MonitorResult:
    metrics: dict[str, float]
    findings: list[Finding] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # per-item evidence
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # small tables to plot
    # metric -> driftlab.intervals.interval(...): a 95% interval over the items measured
    intervals: dict[str, dict[str, Any]] = field(default_factory=dict)
    # metric -> a paired test of the change against round 0 ({"significant": bool, ...})
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "findings": [f.to_dict() for f in self.findings],
            "tables": self.tables,
            "records": self.records,
            "intervals": self.intervals,
            "tests": self.tests,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MonitorResult:
        """Also reads results stored before intervals existed (they have none)."""
        findings = [Finding(**f) for f in d.get("findings", [])]
        return cls(
            d["metrics"],
            findings,
            d.get("records", []),
            d.get("tables", {}),
            d.get("intervals", {}),
            d.get("tests", {}),
        )


class MeasureContext:
    """One model under measurement, with a sample cache so monitors share generations."""

    def __init__(
        self, round: int, model: Generator, task: Task | None, eval_set: list[Problem], seed: int
    ):
        self.round = round
        self.model = model
        self._task = task  # None: probe sets only (`driftlab probes run`)
        self.eval_set = eval_set
        self.seed = seed
        self._cache: dict[tuple, list[list[Completion]]] = {}

    @property
    def task(self) -> Task:
        if self._task is None:
            raise DriftlabError("this monitor measures a task, and none was given")
        return self._task

    def sample(
        self, chats: list[Chat], params: SamplingParams, desc: str
    ) -> list[list[Completion]]:
        key = (repr(chats), params)
        if key not in self._cache:
            self._cache[key] = self.model.generate(chats, params, desc=desc)
        return self._cache[key]

    def eval_samples(
        self, cfg: EvalSampling, n: int, greedy: bool = False
    ) -> list[list[Completion]]:
        """The model's chain-of-thought answers to the held-out set; shared across monitors."""
        chats = [
            [{"role": "user", "content": self.task.cot_prompt(p.question)}] for p in self.eval_set
        ]
        params = SamplingParams(
            n=1 if greedy else n,
            temperature=0.0 if greedy else cfg.temperature,
            top_p=1.0 if greedy else cfg.top_p,
            max_new_tokens=cfg.max_new_tokens,
            seed=self.seed,
        )
        what = "greedy answers" if greedy else f"{n} samples per question"
        return self.sample(chats, params, desc=f"round {self.round}: eval, {what}")


class Column(NamedTuple):
    """A round-table column of a monitor's metric, e.g. Column("acc", "accuracy", "{:.1%}")."""

    title: str
    metric: str  # as the monitor reports it (the table reads NAME.metric from run.json)
    fmt: str


# How the run report can show a monitor's stored table (MonitorResult.tables[NAME]):
#   "calibration": a reliability diagram per round (rows: bin, n, confidence, accuracy)
#   "findings":    ranked behavioural findings per round (report/diff.py's rows; the
#                  monitor's "clusters" table, if any, labels them)
FIGURE_KINDS = ("calibration", "findings")


class Monitor(Protocol):
    name: ClassVar[str]
    Config: ClassVar[type[MonitorConfig]]
    # what the round table shows of it (printed after a run, and by `driftlab report`)
    columns: ClassVar[tuple[Column, ...]]
    # its stored tables the run report draws: table name -> one of FIGURE_KINDS
    figures: ClassVar[dict[str, str]]

    # `config` is an instance of the class's own `Config` (a MonitorConfig subclass): typed Any,
    # as a parameter type cannot narrow in an implementation.
    def __init__(self, config: Any) -> None: ...

    @classmethod
    def metric_names(cls, config: Any) -> list[str]:
        """Every metric `score` may report under `config`, so guard rules are checked at load.

        A `*` stands for a part the data decides (a probe subtask, a bias attribute).
        """
        ...

    def fit(self, baseline: MonitorResult | None) -> Self: ...

    def score(self, ctx: MeasureContext) -> MonitorResult: ...


def _is_monitor(obj: object) -> bool:
    return isinstance(obj, type) and hasattr(obj, "Config") and hasattr(obj, "score")


# other installed packages add monitors under [project.entry-points."driftlab.monitors"]
MONITORS: Registry[type[Monitor]] = Registry("monitor", "driftlab.monitors", _is_monitor)
