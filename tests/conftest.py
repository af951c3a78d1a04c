import os
from typing import Any

import pytest

os.environ.setdefault("DRIFTLAB_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.tiny import build_tiny_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """Path of a tiny random-weight Llama with a real BPE tokenizer and a chat template."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


import torch  # noqa: E402

# Tiny models are faster on one thread, and OpenMP stalls badly when another process
# shares the cores (a 2-core CI machine running anything else).
torch.set_num_threads(1)


@pytest.fixture
def tiny_config(tiny_model, tmp_path):
    """Write a fast LMSI config on the tiny model; returns a function taking overrides."""
    import tomli_w

    def make(**overrides):
        cfg = {
            "name": "tiny",
            "seed": 3,
            "rounds": 2,
            "model": {"name": str(tiny_model), "batch_size": 16},
            "task": {"name": "arithmetic", "train_size": 4, "eval_size": 4},
            "loop": {
                "method": "lmsi",
                "samples": 3,
                "max_new_tokens": 10,
                "formats": ["cot", "direct"],
            },
            "train": {"epochs": 1, "batch_size": 4, "lora_rank": 4},
            "monitors": {
                "capability": {"samples": 2, "max_new_tokens": 10},
                "diversity": {"samples": 2, "max_new_tokens": 10},
            },
        }
        for key, value in overrides.items():
            section, _, leaf = key.rpartition(".")
            target: Any = cfg  # a nested table of the TOML config
            for part in filter(None, section.split(".")):
                target = target.setdefault(part, {})
            target[leaf] = value
        path = tmp_path / "config.toml"
        path.write_text(tomli_w.dumps(cfg))
        return path

    return make


@pytest.fixture(autouse=True)
def metrics_are_declared(monkeypatch):
    """In every test, each loop's stats and each monitor's metrics are among the names it declares.

    Guard rules are checked against those declarations at config load; a metric reported but not
    declared would make a valid rule look like a typo. The real loops and monitors run unchanged.
    """
    from driftlab.guard import unknown_metric
    from driftlab.loops import LOOPS
    from driftlab.monitors import MONITORS

    def checking(cls, run, field):
        def checked(self, ctx):
            out = run(self, ctx)
            known = cls.metric_names(self.cfg)
            extra = [k for k in getattr(out, field) if unknown_metric(k, known)]
            assert not extra, f"{cls.__name__} reports metrics it does not declare: {extra}"
            return out

        return checked

    for registry, method, field in ((LOOPS, "run_round", "stats"), (MONITORS, "score", "metrics")):
        for name in registry.names():
            cls = registry.get(name)
            monkeypatch.setattr(cls, method, checking(cls, getattr(cls, method), field))
