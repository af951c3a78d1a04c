"""The talk's experiments as config switches, on top of the baseline students.

- bootstrapping (sec. 4.3.1): labels pass through every intermediate rung; each intermediate is
  cross-fitted (trained on one half of B, labelling the other) so its labels are predictions,
  not recitations of what it was trained on;
- easy-to-hard: the student sees only the supervisor's most confident share of B;
- synthetic weak labels (sec. 5.1.1 / the talk's imitability point): B's truth with random flips
  at a rate, or with every item of some groups flipped (a systematic, learnable error) at the
  same rate; the "supervisor" on test makes the same kind of errors;
- few-shot prompting (sec. 5.2.1): zero-shot, few-shot with true labels, few-shot with weak labels;
- generative fine-tuning on the task's unlabeled texts before anything else (sec. 5.2.2, salience).
"""

from __future__ import annotations

import numpy as np
import torch

from driftlab import progress
from driftlab.w2s.config import GenerativeConfig
from driftlab.w2s.models import Rung, truncate
from driftlab.w2s.pipeline import Runner, Split, Task, student_unit


def students(
    runner: Runner, units: dict, task: Task, split: Split, seed: int, variant: str, rank: int
) -> None:
    """Every student (and bootstrap intermediate) whose model is ladder[rank]."""
    cfg, name = runner.cfg, runner.cfg.ladder[rank]
    exp = cfg.experiments
    for weak, strong in cfg.pair_list():
        if strong != name:
            continue
        w = units["weak"][(task.name, variant, weak, seed)]
        labels = np.asarray(w["final"]["b_train"])
        for loss in cfg.losses:
            units["student"][(task.name, variant, weak, strong, loss, seed)] = student_unit(
                runner,
                task,
                split,
                seed,
                variant,
                strong,
                weak,
                loss,
                split.b_train,
                labels,
                w["key"],
            )
            if variant == "baseline" and exp.easy_to_hard.enabled:
                k = max(2, int(round(exp.easy_to_hard.confident_frac * len(labels))))
                keep = np.sort(np.argsort(-np.abs(labels - 0.5), kind="stable")[:k])
                units["student"][(task.name, "easy_to_hard", weak, strong, loss, seed)] = (
                    student_unit(
                        runner,
                        task,
                        split,
                        seed,
                        "easy_to_hard",
                        strong,
                        weak,
                        loss,
                        [split.b_train[i] for i in keep],
                        labels[keep],
                        w["key"],
                        {"confident_frac": exp.easy_to_hard.confident_frac},
                    )
                )
    if variant != "baseline":
        return
    if exp.bootstrap.enabled:
        _bootstrap(runner, units, task, split, seed, rank)
    if exp.synthetic.enabled:
        for kind in exp.synthetic.kinds:
            v = f"synthetic-{kind}-{exp.synthetic.rate:g}"
            sup = synthetic_supervisor(task, split, kind, exp.synthetic.rate, seed)
            units["weak"][(task.name, v, "synthetic", seed)] = sup
            for loss in cfg.losses:
                units["student"][(task.name, v, "synthetic", name, loss, seed)] = student_unit(
                    runner,
                    task,
                    split,
                    seed,
                    v,
                    name,
                    "synthetic",
                    loss,
                    split.b_train,
                    np.asarray(sup["final"]["b_train"]),
                    sup["key"],
                )


def _bootstrap(runner: Runner, units: dict, task: Task, split: Split, seed: int, rank: int) -> None:
    """Chains weak -> every rung between -> strong. At an intermediate rung: cross-fitted labels for
    the next rung; at the last rung: the student. Chains without an intermediate are the baseline.
    """
    cfg = runner.cfg
    chains = units.setdefault("chain", {})
    for weak, strong in cfg.pair_list():
        lo, hi = cfg.ladder.index(weak), cfg.ladder.index(strong)
        if hi - lo < 2 or not lo < rank <= hi:
            continue
        chain = tuple(cfg.ladder[lo : rank + 1])
        for loss in cfg.losses:
            if rank == lo + 1:
                w = units["weak"][(task.name, "baseline", weak, seed)]
                prev = (np.asarray(w["final"]["b_train"]), w["key"])
            else:
                prev = chains[(task.name, chain[:-1], loss, seed)]
            if rank == hi:
                units["student"][(task.name, "bootstrap", weak, strong, loss, seed)] = student_unit(
                    runner,
                    task,
                    split,
                    seed,
                    "bootstrap",
                    strong,
                    weak,
                    loss,
                    split.b_train,
                    prev[0],
                    prev[1],
                    {"chain": list(chain)},
                )
            elif (task.name, chain, loss, seed) not in chains:
                chains[(task.name, chain, loss, seed)] = _cross_fit(
                    runner, task, split, seed, chain, loss, prev
                )


def _cross_fit(runner, task, split, seed, chain, loss, prev) -> tuple[np.ndarray, str]:
    """Labels on all of B's training part from two models each trained on the other half."""
    labels, prev_labels = np.zeros(len(split.b_train)), prev[0]
    pos = np.arange(len(split.b_train))
    keys = []
    for fold in (0, 1):
        tr, ho = pos[pos % 2 == fold], pos[pos % 2 != fold]
        spec = {
            "task": task.spec,
            "seed": seed,
            "model": chain[-1],
            "variant": "bootstrap",
            "role": "intermediate",
            "supervisor": chain[0],
            "loss": loss,
            "labels_from": prev[1],
            "chain": list(chain),
            "fold": fold,
        }
        u = runner.train_unit(
            spec,
            task,
            split,
            [split.b_train[i] for i in tr],
            prev_labels[tr],
            loss,
            {"held_out": [split.b_train[i] for i in ho]},
        )
        labels[ho] = u["final"]["held_out"]
        keys.append(u["key"])
    return labels, "+".join(keys)


def synthetic_supervisor(task: Task, split: Split, kind: str, rate: float, seed: int) -> dict:
    """Truth made wrong on `rate` of the items: at random ("noise"), or on whole groups ("flip"),
    the groups chosen (seeded) until the flipped share of B is closest to `rate`. Test and val get
    the same kind of errors, so the supervisor's accuracy and agreement are defined."""
    rng = np.random.default_rng([seed, 7])
    idx = {"b_train": split.b_train, "val": split.b_val, "test": split.test}
    truth = {k: task.labels[v] for k, v in idx.items()}
    if kind == "noise":
        wrong = {k: rng.random(len(v)) < rate for k, v in idx.items()}
    else:
        groups = sorted(set(task.groups))
        rng.shuffle(groups)
        b_groups = np.array([task.groups[i] for i in split.b_train])
        chosen: list = []
        best = 0.0
        for g in groups:
            share = np.isin(b_groups, chosen + [g]).mean()
            if abs(share - rate) < abs(best - rate):
                chosen, best = chosen + [g], share
        wrong = {k: np.isin([task.groups[i] for i in v], chosen) for k, v in idx.items()}
    final = {k: np.where(wrong[k], 1 - truth[k], truth[k]).astype(float).tolist() for k in idx}
    return {"key": f"synthetic-{kind}-{rate:g}-s{seed}", "final": final, "synthetic": True}


# ---- generative fine-tuning (salience) ----------------------------------------------------------


def generative_tune(rung: Rung, task: Task, cfg: GenerativeConfig) -> None:
    """Next-token training of a decoder on the pool's texts (no labels, no test texts), then the
    classifier is built on the tuned body. Encoders are left as they are (no causal LM head)."""
    if rung.kind != "decoder":
        return
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_pretrained(rung.info["path"], dtype=torch.float32)
    lm.config.use_cache = False
    tok, texts = rung.tokenizer, task.texts[: task.n_pool]
    opt = torch.optim.AdamW(lm.parameters(), lr=cfg.learning_rate)
    gen = torch.Generator().manual_seed(0)
    lm.train()
    with progress.task(
        f"generative {rung.name} on {task.name}", total=cfg.steps, unit="steps"
    ) as advance:
        for _ in range(cfg.steps):
            pick = torch.randint(0, len(texts), (cfg.batch_size,), generator=gen).tolist()
            enc = tok(
                [texts[i] for i in pick],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=64,
            )
            labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
            loss = lm(**enc, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            advance(1)
    base = truncate(lm.model, "decoder", rung.cfg.depth)
    base.config.use_cache = False
    rung.base, rung._features, rung._top = base, {}, None
    rung.info["tuned"] = f"generative:{task.name}:{cfg.model_dump_json()}"  # its own feature cache


# ---- few-shot prompting -------------------------------------------------------------------------


def prompting(runner: Runner, units: dict, task: Task, name: str) -> None:
    """Zero-shot, few-shot with true labels and few-shot with each weaker supervisor's labels."""
    cfg = runner.cfg
    pcfg = cfg.experiments.prompting
    rung = runner.load(name, "baseline", task)
    if rung.kind != "decoder":
        return
    lm = None
    for seed in cfg.seeds:
        from driftlab.w2s.pipeline import make_split

        split = make_split(task, cfg, seed)
        rng = np.random.default_rng([seed, 11])
        shots = rng.choice(len(split.b_train), pcfg.shots, replace=False)
        shot_idx = [split.b_train[i] for i in shots]
        test = split.test[: pcfg.n_test]
        modes: list[tuple[str, str | None, np.ndarray | None]] = [
            ("zero_shot", None, None),
            ("fewshot_true", None, task.labels[shot_idx]),
        ]
        for weak in cfg.ladder[: cfg.ladder.index(name)]:
            w = units["weak"][(task.name, "baseline", weak, seed)]
            modes.append(
                ("fewshot_weak", weak, (np.asarray(w["final"]["b_train"])[shots] > 0.5).astype(int))
            )
        for mode, sup, labels in modes:
            spec = {
                "task": task.spec,
                "seed": seed if mode != "zero_shot" else 0,
                "model": name,
                "role": "prompt",
                "mode": mode,
                "supervisor": sup,
                "shots": pcfg.shots,
                "n_test": len(test),
                "shot_labels": None if labels is None else labels.tolist(),
            }

            def compute(labels=labels, mode=mode, sup=sup, test=test, shot_idx=shot_idx):
                nonlocal lm
                if lm is None:
                    from transformers import AutoModelForCausalLM

                    lm = AutoModelForCausalLM.from_pretrained(
                        rung.info["path"], dtype=torch.float32
                    ).eval()
                prefix = (
                    ""
                    if labels is None
                    else "".join(
                        f"{task.texts[i]}\n{task.data.question} {'Yes' if y else 'No'}\n\n"
                        for i, y in zip(shot_idx, labels)
                    )
                )
                scores = _yes_no(
                    lm,
                    rung.tokenizer,
                    [f"{prefix}{task.texts[i]}\n{task.data.question}" for i in test],
                )
                acc = float(((scores > 0) == task.labels[test]).mean())
                progress.log(
                    f"  prompt {task.name} {name} {mode}{' <- ' + sup if sup else ''}: "
                    f"acc {acc:.3f}"
                )
                return {"test_idx": test, "scores": np.round(scores, 4).tolist(), "test_acc": acc}

            units["prompt"][(task.name, name, mode, sup, seed)] = runner.unit(spec, compute)


@torch.no_grad()
def _yes_no(lm, tok, prompts: list[str], batch_size: int = 8) -> np.ndarray:
    """log P(" Yes") - log P(" No") for the next token after each prompt (left-padded batches)."""
    yes, no = (tok(w, add_special_tokens=False)["input_ids"][0] for w in (" Yes", " No"))
    side, tok.padding_side = tok.padding_side, "left"
    out = []
    try:
        for s in range(0, len(prompts), batch_size):
            enc = tok(prompts[s : s + batch_size], return_tensors="pt", padding=True)
            logits = lm(**enc, logits_to_keep=1).logits[:, -1]
            lp = torch.log_softmax(logits, -1)
            out.append((lp[:, yes] - lp[:, no]).numpy())
    finally:
        tok.padding_side = side
    return np.concatenate(out)
