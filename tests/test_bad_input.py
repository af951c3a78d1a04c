"""Bad input fails fast: the real CLI, in a subprocess, on malformed configs, task files, model
specs, run folders and review requests.

Each case must exit 2 with one message that names the problem, print no traceback, and leave
no file or directory behind (a rerun with the same --out must work). Every case fails before
a model is loaded, so each takes about a second (a few seconds where the run's own checks
need torch imported).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

TINY = "TINY"  # replaced by the tiny model's path


def config(**overrides) -> dict:
    """A valid fast config; dotted keys override (value None deletes)."""
    cfg = {
        "name": "bad",
        "rounds": 1,
        "model": {"name": TINY},
        "task": {"name": "arithmetic", "train_size": 4, "eval_size": 4},
        "monitors": {"capability": {"samples": 2}, "diversity": {"samples": 2}},
    }
    for key, value in overrides.items():
        *path, leaf = key.split(".")
        target: dict = cfg
        for part in path:
            target = target.setdefault(part, {})
        target[leaf] = value
    return cfg


def conf(**overrides) -> dict:
    """The files of a `driftlab run c.toml` case."""
    return {"c.toml": config(**overrides)}


RUN = ["run", "c.toml"]


def fake_run(root: Path, status: str = "completed") -> None:
    """A run folder as `driftlab run` leaves it, without any round trained."""
    root.mkdir(parents=True)
    (root / "run.json").write_text(f'{{"name": "r", "status": "{status}", "rounds": []}}')
    (root / "config.toml").write_text(f'[model]\nname = "{TINY}"\n')


# (id, files to write {name: text | config dict | callable(path)}, CLI args, expected message)
D = ["--out", "D"]
JSONL_TASK = {"name": "jsonl", "path": "t.jsonl"}
PAUSED = {"runs/r": lambda p: fake_run(p, "awaiting_review")}
CASES = [
    # configs
    ("unknown-key", conf(bogus=1), RUN, r"bogus: unknown key"),
    (
        "unknown-nested-key",
        conf(**{"train.learnig_rate": 0.1}),
        RUN,
        r"train\.learnig_rate: unknown key; allowed keys: learning_rate",
    ),
    ("negative-rounds", conf(rounds=-1), RUN, r"rounds: .*greater than or equal to 0"),
    ("wrong-type", conf(**{"train.epochs": "many"}), RUN, r"train\.epochs: "),
    ("not-toml", {"c.toml": "rounds = \n"}, RUN, r"c\.toml: not valid TOML"),
    ("config-missing", {}, ["run", "nope.toml"], r"config file not found: nope\.toml"),
    (
        "guard-metric-typo",
        conf(**{"guard.rules": ["capability.acuracy < baseline - 0.05"]}),
        RUN,
        r"unknown metric capability\.acuracy; did you mean capability\.accuracy\?",
    ),
    (
        "guard-metric-of-disabled-monitor",
        conf(**{"guard.rules": ["reference_ppl.ppl > 2"], "monitors.reference_ppl.enabled": False}),
        RUN,
        r"unknown metric reference_ppl\.ppl; no enabled monitor is called 'reference_ppl'",
    ),
    (
        "guard-rollback-best-metric",
        conf(**{"guard.action": "rollback", "guard.best_metric": "acc"}),
        RUN,
        r"guard\.best_metric: unknown metric acc",
    ),
    (
        "guard-rule-unreadable",
        conf(**{"guard.rules": ["capability.accuracy << 3"]}),
        RUN,
        r"cannot read rule",
    ),
    (
        "device-gpu",
        conf(**{"model.device": "gpu"}),
        RUN,
        r"model\.device: device must be auto, cpu, cuda, cuda:N or mps \(got 'gpu'\)",
    ),
    ("device-missing-gpu", conf(**{"model.device": "cuda:99"}), RUN, r"model\.device: .*CUDA GPU"),
    ("unknown-loop", conf(**{"loop.method": "lmsy"}), RUN, r"unknown loop 'lmsy'"),
    ("unknown-monitor", conf(**{"monitors.capabilty": {}}), RUN, r"unknown monitor 'capabilty'"),
    ("unknown-task", conf(**{"task.name": "arithmatic"}), RUN, r"unknown task 'arithmatic'"),
    (
        "model-path-missing",
        conf(**{"model.name": "/no/such/model"}),
        RUN,
        r"model\.name: unknown model '/no/such/model'",
    ),
    (
        "judge-reference-bad-url",
        conf(**{"monitors.judge": {"enabled": True, "reference": "openai:x@notaurl"}}),
        RUN,
        r"monitors\.judge\.reference: .*base URL 'notaurl'",
    ),
    (
        "replay-file-missing",
        conf(**{"mitigations.replay_fraction": 0.2, "mitigations.replay_source": "nope.jsonl"}),
        RUN,
        r"nope\.jsonl",
    ),
    (
        "replay-on-dpo-loop",
        conf(**{"loop.method": "self_rewarding", "mitigations.replay_fraction": 0.2}),
        RUN,
        r"replay_fraction needs an SFT loop",
    ),
    ("unknown-preset", {}, ["run", "--preset", "quickstrat"], r"unknown preset 'quickstrat'"),
    ("no-config", {}, ["run"], r"give a CONFIG file or --preset NAME"),
    # JSONL task files
    ("task-empty", {"t.jsonl": "", **conf(task=JSONL_TASK)}, RUN, r"t\.jsonl has no questions"),
    (
        "task-malformed-line",
        {
            "t.jsonl": '{"question": "1+1?", "answer": 2}\n{"question": "2+2?", \n',
            **conf(task=JSONL_TASK),
        },
        RUN,
        r"t\.jsonl, line 2",
    ),
    (
        "task-missing-answer",
        {
            "t.jsonl": '{"question": "1+1?"}\n{"question": "2+2?", "answer": 4}\n',
            **conf(task=JSONL_TASK),
        },
        RUN,
        r"t\.jsonl, line 1",
    ),
    (
        "task-file-missing",
        conf(task={"name": "jsonl", "path": "none.jsonl"}),
        RUN,
        r"task file none\.jsonl does not exist",
    ),
    # model specs
    (
        "diff-b-not-a-url",
        {},
        ["diff", TINY, "openai:x@notaurl", *D],
        r"model B: openai backend: base URL 'notaurl' is not http\(s\)://",
    ),
    (
        "diff-a-missing-path",
        {},
        ["diff", "/no/such/model", TINY, *D],
        r"unknown model '/no/such/model'",
    ),
    ("diff-superscript-round", {}, ["diff", "runs/x@²", TINY, *D], r"runs/x@²"),
    (
        "diff-round-not-a-number",
        {"runs/r": fake_run},
        ["diff", "runs/r@two", TINY, *D],
        r"the round after '@' must be a number",
    ),
    (
        "diff-superscript-round-of-a-run",
        {"runs/r": fake_run},
        ["diff", "runs/r@²", TINY, *D],
        r"runs/r@².*the round after '@' must be a number",
    ),
    (
        "diff-round-not-trained",
        {"runs/r": fake_run},
        ["diff", "runs/r@3", TINY, *D],
        r"round 3 of runs/r has no lineage\.json",
    ),
    (
        "diff-not-a-run",
        {"runs/x/readme.txt": "hi"},
        ["diff", "runs/x@1", TINY, *D],
        r"runs/x holds no run \(no run\.json\)",
    ),
    (
        "diff-labeler-bad-url",
        {},
        ["diff", TINY, TINY, "--labeler", "openai:m@http://", *D],
        r"labeler: .*base URL 'http://'",
    ),
    (
        "diff-prompts-malformed",
        {"p.jsonl": '{"prompt": "a"}\nnot json\n'},
        ["diff", TINY, TINY, "--prompts", "p.jsonl", *D],
        r"p\.jsonl.* line 2",
    ),
    (
        "diff-monitor-labeler-missing",
        conf(**{"monitors.diff": {"enabled": True, "labeler": "./no-labeler"}}),
        RUN,
        r"monitors\.diff\.labeler: unknown model './no-labeler'",
    ),
    (
        "probes-missing-judge",
        {},
        ["probes", "run", TINY, "--judge", "./no-judge", "--out", "P"],
        r"unknown model './no-judge'",
    ),
    # run folders
    (
        "resume-not-a-run",
        {"x/readme.txt": "hi"},
        ["run", "--resume", "--out", "x"],
        r"x holds no run to resume \(no run\.json\)",
    ),
    ("resume-without-out", {}, ["run", "--resume"], r"--resume needs --out DIR"),
    ("report-not-a-run", {"x/readme.txt": "hi"}, ["report", "x"], r"x holds no run\.json"),
    ("message-with-markup", {}, ["report", "[/x]"], r"\[/x\] is not a directory"),  # not markup
    # review requests
    ("review-not-a-run", {"x/readme.txt": "hi"}, ["review", "x"], r"x holds no driftlab run"),
    (
        "review-not-paused",
        {"runs/r": fake_run},
        ["review", "runs/r"],
        r"runs/r is not awaiting review",
    ),
    (
        "review-undecided-bad",
        PAUSED,
        ["review", "runs/r", "--finish", "--undecided", "maybe"],
        r"--undecided must be accept or reject",
    ),
    (
        "review-undecided-without-finish",
        PAUSED,
        ["review", "runs/r", "--undecided", "accept"],
        r"--undecided only goes with --finish",
    ),
]


def tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in root.rglob("*")
    }


def test_the_sweep_covers_every_kind_of_input():
    assert len(CASES) >= 25 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("files, args, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_message_and_leaves_nothing(
    files, args, message, tiny_model, tmp_path
):
    import re

    def fill(text: str) -> str:
        return text.replace(TINY, str(tiny_model))

    for name, content in files.items():
        path = tmp_path / name
        if callable(content):
            content(path)
            for p in path.rglob("*.toml"):
                p.write_text(fill(p.read_text()))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(fill(content if isinstance(content, str) else tomli_w.dumps(content)))
    before = tree(tmp_path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    argv = [sys.executable, "-m", "driftlab", *[fill(a) for a in args]]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 2, said
    assert "Traceback" not in said, said
    assert re.search(message, said), said
    assert said.count("error:") + said.count("Error:") == 1, said  # one message
    assert tree(tmp_path) == before, "files were left behind"
