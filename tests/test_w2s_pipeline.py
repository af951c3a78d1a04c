"""The w2s pipeline end to end on a tiny random-weight ladder (BERT -> small Llama -> larger Llama):
every experiment switch, the results.json schema, the per-unit cache, and split hygiene."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from driftlab.w2s import pipeline, run_w2s, units
from driftlab.w2s.config import RungConfig, W2SConfig
from driftlab.w2s.models import Features, load_rung
from driftlab.w2s.results import tables
from tests.tiny import build_tiny_model


def build_tiny_bert(path: Path, tokenizer_from: Path, hidden: int = 32, layers: int = 2) -> Path:
    """A random-weight BERT encoder sharing the tiny Llama's tokenizer: the encoder rung."""
    path.mkdir(parents=True, exist_ok=True)
    for f in tokenizer_from.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens")):
            shutil.copy(f, path / f.name)
    tok = AutoTokenizer.from_pretrained(tokenizer_from)
    torch.manual_seed(1)
    cfg = BertConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=hidden * 2,
        max_position_embeddings=256,
        pad_token_id=tok.pad_token_id,
    )
    BertModel(cfg).save_pretrained(path)
    return path


def build_ladder(root: Path) -> list[str]:
    """encoder -> small decoder -> larger decoder, weakest first like the built-in ladder."""
    small = build_tiny_model(root / "llama-small", seed=0, hidden=32, layers=2)
    big = build_tiny_model(root / "llama-big", seed=1, hidden=48, layers=3)
    bert = build_tiny_bert(root / "bert", small)
    return [str(bert), str(small), str(big)]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIFTLAB_CACHE", str(tmp_path / "cache"))  # feature caches stay in the test


@pytest.fixture(scope="module")
def ladder(tmp_path_factory):
    return build_ladder(tmp_path_factory.mktemp("w2s-ladder"))


def make_cfg(ladder, **experiments) -> W2SConfig:
    return W2SConfig.model_validate(
        {
            "name": "tiny",
            "seeds": [0, 1],
            "ladder": ladder,
            "losses": ["xent", "confidence"],
            "tasks": [{"name": "sizes", "max_pool": 120, "max_test": 40}],
            "data": {"n_a": 40, "n_b": 50, "n_test": 40, "max_length": 24},
            "train": {"epochs": 1, "batch_size": 8, "evals_per_epoch": 2},
            "bootstrap_resamples": 100,
            "experiments": experiments,
        }
    )


@pytest.mark.parametrize("rung_index", [0, 2])  # the BERT encoder and the larger Llama
def test_top_blocks_on_cached_states_equal_the_full_model(ladder, rung_index):
    """The `top` mode's shortcut is exact: cached lower blocks + top blocks == the whole model."""
    rung = load_rung(ladder[rung_index], RungConfig(train_layers=1))
    texts = ["An ant is lighter than a cow.", "A car is heavier than an egg, they say."]
    cached = rung.features("t", texts, 32).batch([0, 1])
    tokens = Features("tokens", rung.tokenize(texts), rung.tokenizer.pad_token_id).batch([0, 1])
    with torch.no_grad():
        full = rung.base.eval()(**tokens).last_hidden_state
        top = rung.top_blocks().eval()(**cached).last_hidden_state
    mask = tokens["attention_mask"].bool()
    assert torch.allclose(full[mask], top[mask], atol=1e-5)
    assert (
        rung.base.get_input_embeddings().weight.shape[0] > 1
    )  # the shared model kept its embeddings


def test_frozen_features_are_computed_once_and_read_back_from_disk(ladder, tmp_path):
    """A second load of the rung (a later run) reads the frozen prefix's outputs from the
    feature cache (one file, no temporaries) instead of running the model again."""
    texts = ["An ant is lighter than a cow.", "A car is heavier than an egg."]
    first = load_rung(ladder[2], RungConfig(train_layers=1)).features("t", texts, 32)
    files = list((tmp_path / "cache" / "w2s-features").iterdir())
    assert [f.suffix for f in files] == [".pt"]
    again = load_rung(ladder[2], RungConfig(train_layers=1))
    again.base = None  # the model cannot run: the features must come from disk
    second = again.features("t", texts, 32)
    assert all(torch.equal(a, b) for a, b in zip(first.rows, second.rows))


def test_training_changes_a_copy_never_the_shared_model(ladder):
    from driftlab.w2s.config import FitConfig
    from driftlab.w2s.losses import xent
    from driftlab.w2s.train import fit

    rung = load_rung(ladder[1], RungConfig(train_layers=1))
    feats = rung.features("t", ["a b c", "d e f", "g h", "i j k l"], 16)
    shared = {n: p.detach().clone() for n, p in rung.top_blocks().named_parameters()}
    model = rung.classifier(0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    fit(
        model,
        feats,
        [0, 1, 2, 3],
        np.array([1.0, 0.0, 1.0, 0.0]),
        xent,
        FitConfig(epochs=1, batch_size=4, learning_rate=1e-2),
        0,
        {"test": [0], "val": []},
    )
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert "head.1.weight" in changed and any(n.startswith("body.layers.0.") for n in changed)
    assert all(torch.equal(p, shared[n]) for n, p in rung.top_blocks().named_parameters())


@pytest.mark.parametrize("finetune", ["lora", "full"])
@pytest.mark.parametrize("rung_index", [0, 1])  # an encoder and a decoder
def test_lora_and_full_modes_train_the_body_from_tokens(ladder, finetune, rung_index):
    """lora trains only adapters (+ head), full every weight; both read token ids, and the
    shared base model is never touched."""
    from driftlab.w2s.config import FitConfig
    from driftlab.w2s.losses import xent
    from driftlab.w2s.train import fit

    rung = load_rung(ladder[rung_index], RungConfig(finetune=finetune))
    feats = rung.features(f"t-{finetune}", ["a b c", "d e f", "g h", "i j k l"], 16)
    assert feats.mode == "tokens"
    shared = {n: p.detach().clone() for n, p in rung.base.named_parameters()}
    model = rung.classifier(0)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    res = fit(
        model,
        feats,
        [0, 1, 2, 3],
        np.array([1.0, 0.0, 1.0, 0.0]),
        xent,
        FitConfig(epochs=2, batch_size=4, learning_rate=1e-2),
        0,
        {"test": [0, 1], "val": []},
    )
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    body = {n for n in changed if n.startswith("body.")}
    assert "head.1.weight" in changed and body and changed <= trainable
    if finetune == "lora":
        assert all("lora_" in n for n in body)
    else:
        assert not any("lora_" in n for n in trainable) and len(body) > 4
    assert len(res.final("test")) == 2
    assert all(torch.equal(p, shared[n]) for n, p in rung.base.named_parameters())


def test_end_to_end_every_experiment_and_the_cache(ladder, tmp_path):
    cfg = make_cfg(
        ladder,
        bootstrap={"enabled": True},
        synthetic={"enabled": True},
        easy_to_hard={"enabled": True},
        prompting={"enabled": True, "shots": 2, "n_test": 6},
        generative={"enabled": True, "steps": 2, "batch_size": 4},
    )
    res = run_w2s(cfg, tmp_path)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["schema"] == "driftlab.w2s/1" and on_disk["rows"] == json.loads(
        json.dumps(res["rows"])
    )
    variants = {r["variant"] for r in res["rows"]}
    assert variants == {
        "baseline",
        "bootstrap",
        "easy_to_hard",
        "generative",
        "synthetic-noise-0.25",
        "synthetic-flip-0.25",
    }
    boot = [r for r in res["rows"] if r["variant"] == "bootstrap"]
    assert boot and all(len(r["chain"]) == 3 for r in boot)
    base = [r for r in res["rows"] if r["variant"] == "baseline"]
    assert len(base) == 6 * 2  # pairs with strong >= weak on 3 rungs, 2 losses
    for r in res["rows"]:
        assert 0 <= r["student_acc"]["mean"] <= 1 and set(r["agreement"]) == {
            "all",
            "supervisor_right",
            "supervisor_wrong",
        }
        assert {"last", "oracle", "weak_val_loss", "val_confidence", "prediction_stability"} <= set(
            r["early_stopping"]
        )
        assert r["curve"] and r["curve"][-1]["epoch"] == pytest.approx(1.0)
        assert r["early_stopping"]["oracle"]["acc"] >= r["early_stopping"]["last"]["acc"]
    modes = {(p["model"], p["mode"]) for p in res["prompting"]}
    assert (ladder[2], "fewshot_weak") in modes and not any(
        m == ladder[0] for m, _ in modes
    )  # no LM head
    assert {m["name"] for m in res["models"]} == set(ladder) and res["models"][0][
        "pooling"
    ] == "mean"
    assert len(tables(res)) == 3
    # synthetic noise: the student's labels are wrong on about `rate` of B
    noise = [r for r in res["rows"] if r["variant"] == "synthetic-noise-0.25"]
    assert all(0.55 < r["weak_label_acc_on_b"] < 0.95 for r in noise)

    # rerun: nothing is trained again, results are the same
    n_units = len(list((tmp_path / "units").glob("*.json")))
    again = run_w2s(cfg, tmp_path)
    assert len(list((tmp_path / "units").glob("*.json"))) == n_units
    assert again["rows"] == res["rows"]


def test_no_test_or_ceiling_label_reaches_a_student(ladder, tmp_path, monkeypatch):
    """Flip the truth of every item outside split A (B and test): the supervisor, trained on A,
    labels B exactly as before, so every student trains on exactly the same targets, while the
    ceiling (trained on B's truth) does see the change."""
    cfg = make_cfg(ladder, bootstrap={"enabled": True}, easy_to_hard={"enabled": True})
    cfg = cfg.model_copy(update={"seeds": [0], "ladder": ladder[:2] + ladder[2:]})
    real = pipeline.load_tasks

    def flipped(cfg):
        tasks = real(cfg)
        for t in tasks:
            keep = set(units.make_split(t, cfg, 0).a)
            t.labels = np.array([y if i in keep else 1 - y for i, y in enumerate(t.labels)])
        return tasks

    def units_by_role(out):
        return {
            (
                u["spec"]["role"],
                u["spec"]["model"],
                u["spec"].get("supervisor"),
                u["spec"].get("loss"),
                u["spec"]["variant"],
                u["spec"].get("fold"),
            ): u
            for u in map(
                lambda p: json.loads(p.read_text()), (out / "units").glob("[0-9a-f]*.json")
            )
        }

    run_w2s(cfg, tmp_path / "truth")
    monkeypatch.setattr(pipeline, "load_tasks", flipped)
    run_w2s(cfg, tmp_path / "flipped")
    a, b = units_by_role(tmp_path / "truth"), units_by_role(tmp_path / "flipped")
    assert a.keys() == b.keys()
    students = [k for k in a if k[0] in ("student", "intermediate")]
    assert len(students) >= 12
    for k in students:
        assert a[k]["targets"] == b[k]["targets"], k
        split = units.make_split(real(cfg)[0], cfg, 0)
        assert set(a[k]["train_idx"]) <= set(split.b_train)  # never A, held-out B or test
    ceilings = [k for k in a if k[0] == "ceiling"]
    assert all(a[k]["targets"] != b[k]["targets"] for k in ceilings)  # the flip did take effect


def test_hygiene_check_rejects_overlap():
    split = units.Split(a=[0, 1], b_train=[2, 3], b_val=[4], test=[5])
    units.check_hygiene(split, [2, 3])
    with pytest.raises(RuntimeError):
        units.check_hygiene(split, [2, 5])  # a test item in a student's training set
    with pytest.raises(RuntimeError):
        units.check_hygiene(units.Split(a=[0, 1], b_train=[1, 3], b_val=[4], test=[5]))
