"""Constitutional AI (Bai et al. 2022, arXiv:2212.08073), with DPO in place of PPO for RL-CAI.

SL-CAI (mode "sl"): the model answers a prompt, critiques its own reply under a principle
sampled from the constitution, then revises the reply; this repeats for `revision_passes`
passes, each with a freshly sampled principle (the paper samples a principle per step too),
and the final revision becomes the SFT target for the original prompt. Each pass shows the
model only its current reply, not the whole history of critiques: a small model's context
and attention are short. Critique and revision texts are stored raw, next to the cleaned
revision that is trained on.

RL-CAI (mode "rl"): two sampled replies per prompt; the model is asked which one better meets
a sampled principle, and its preference is read from the log-probabilities of the two choice
tokens "(A)" and "(B)", normalised over the pair (the paper's multiple-choice feedback). Each
pair is asked in both orders and the two probabilities averaged, which cancels the judge's
bias towards a position; how much the orders disagree is reported. The preferred reply is
"chosen" and the other "rejected", and the pairs train with DPO.
"""

from __future__ import annotations

import math
import random
import re
import statistics
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from driftlab.findings import Finding
from driftlab.loops.base import LOOPS, RoundContext, RoundData
from driftlab.loops.choices import option_logprobs
from driftlab.loops.constitution import (
    Constitution,
    Principle,
    check_constitution,
    load_constitution,
)
from driftlab.models.base import Chat, Generator, SamplingParams

CHOICES = ("(A)", "(B)")


class ConstitutionalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["sl", "rl"] = Field(
        "sl", description="sl: critique -> revision -> SFT; rl: AI preference -> DPO"
    )
    constitution: str | None = Field(
        None, description="TOML or JSONL file of principles; default: shipped"
    )
    temperature: float = Field(0.7, gt=0)
    top_p: float = Field(0.95, gt=0, le=1)
    max_new_tokens: int = Field(256, ge=1, description="for replies and revisions")
    critique_max_new_tokens: int = Field(128, ge=1)
    revision_passes: int = Field(
        1, ge=1, le=8, description="critique-revision passes (paper: up to 4)"
    )
    drop_truncated: bool = Field(True, description="SL: skip revisions cut off at max_new_tokens")
    min_preference: float = Field(
        0.0,
        ge=0,
        lt=0.5,
        description="RL: drop pairs whose preference probability is within this of 0.5",
    )
    reference: Literal["current", "initial"] = "current"
    beta: float = Field(0.1, gt=0, description="DPO beta (rl)")

    _constitution_loads = field_validator("constitution")(check_constitution)


# ---- SL-CAI: critique and revision --------------------------------------------------------------
_PREAMBLE = re.compile(
    r"^[^\n]{0,80}\b(?:revised|rewritten|new version|improved|updated)\b[^\n]{0,60}:\s*(?:\n|$)",
    re.IGNORECASE,
)
_LABEL = re.compile(
    r"^\W{0,4}(?:revised|rewritten|new|improved|updated)\s+(?:response|reply|version|answer)"
    r"\W{0,4}:\W{0,4}",
    re.IGNORECASE,
)


def clean_revision(raw: str) -> str:
    """The revised reply without a lead-in such as "Here is a revised version of my reply:"."""
    text = _PREAMBLE.sub("", raw.strip(), count=1).strip()
    text = _LABEL.sub("", text, count=1).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def critique_and_revise(
    model: Generator,
    prompts: list[str],
    replies: list[str],
    principles: list[list[Principle]],
    params: SamplingParams,
    critique_tokens: int,
    desc: str,
) -> list[list[dict]]:
    """Per prompt, one critique-revision pass per principle in its list, each on the last reply.

    Returns per prompt the passes: principle, critique request, raw critique, revision request,
    raw revision, cleaned revision and how the revision ended ("stop" or "length").
    """
    current = list(replies)
    passes: list[list[dict]] = [[] for _ in prompts]
    for step in range(max((len(p) for p in principles), default=0)):
        idx = [i for i, p in enumerate(principles) if step < len(p)]
        base = [
            [{"role": "user", "content": prompts[i]}, {"role": "assistant", "content": current[i]}]
            for i in idx
        ]
        asks = [principles[i][step] for i in idx]
        c_params = SamplingParams(
            n=1,
            temperature=params.temperature,
            top_p=params.top_p,
            max_new_tokens=critique_tokens,
            seed=params.seed + 2 * step,
        )
        crit = model.generate(
            [[*b, {"role": "user", "content": a.critique}] for b, a in zip(base, asks)],
            c_params,
            desc=f"{desc}: critiques, pass {step + 1}",
        )
        r_params = SamplingParams(
            n=1,
            temperature=params.temperature,
            top_p=params.top_p,
            max_new_tokens=params.max_new_tokens,
            seed=params.seed + 2 * step + 1,
        )
        chats: list[Chat] = [
            [
                *b,
                {"role": "user", "content": a.critique},
                {"role": "assistant", "content": c[0].text},
                {"role": "user", "content": a.revision},
            ]
            for b, a, c in zip(base, asks, crit)
        ]
        revs = model.generate(chats, r_params, desc=f"{desc}: revisions, pass {step + 1}")
        for i, a, [c], [r] in zip(idx, asks, crit, revs, strict=True):
            revised = clean_revision(r.text)
            passes[i].append(
                {
                    "principle": a.name,
                    "critique_request": a.critique,
                    "critique": c.text,
                    "revision_request": a.revision,
                    "revision_raw": r.text,
                    "revision": revised,
                    "finish": r.finish_reason,
                }
            )
            if revised:
                current[i] = revised
    return passes


# ---- RL-CAI: preference probability --------------------------------------------------------------
def choice_prompt(prompt: str, first: str, second: str, question: str) -> Chat:
    text = (
        f"Here is a request a user sent to an AI assistant, and two possible replies.\n\n"
        f"Request: {prompt}\n\n{CHOICES[0]} {first}\n\n{CHOICES[1]} {second}\n\n"
        f"{question} Answer with {CHOICES[0]} or {CHOICES[1]} only."
    )
    return [{"role": "user", "content": text}]


def normalise(lp_a: float, lp_b: float) -> float:
    """P(A) over the two choices from their log-probabilities: exp(a) / (exp(a) + exp(b))."""
    d = lp_b - lp_a
    return 1.0 / (1.0 + math.exp(d)) if d < 700 else 0.0


def preference(lp_ab: tuple[float, float], lp_ba: tuple[float, float]) -> dict[str, float]:
    """P(first reply is better), averaged over both presentation orders, and the position bias.

    lp_ab: log p of "(A)", "(B)" with the first reply shown as (A); lp_ba: the same with the
    first reply shown as (B). `p_a` is how much the judge likes slot (A) whatever is in it:
    0.5 means no position bias.
    """
    p1 = normalise(*lp_ab)  # first reply is (A)
    p2 = 1.0 - normalise(*lp_ba)  # first reply is (B)
    return {
        "p_first": (p1 + p2) / 2,
        "p_first_ab": p1,
        "p_first_ba": p2,
        "p_a": (normalise(*lp_ab) + normalise(*lp_ba)) / 2,
        "orders_agree": float((p1 > 0.5) == (p2 > 0.5)),
    }


@LOOPS.register("constitutional")
class Constitutional:
    Config: ClassVar[type[BaseModel]] = ConstitutionalConfig

    @classmethod
    def metric_names(cls, config: ConstitutionalConfig) -> list[str]:
        if config.mode == "sl":
            return [
                "questions",
                "questions_selected",
                "train_rows",
                "critiques",
                "empty_revisions",
                "truncated_revisions",
                "parroted_revisions",
                "revision_changed_rate",
                "response_chars_mean",
                "revision_chars_mean",
            ]
        return [
            "questions",
            "questions_selected",
            "train_rows",
            "pairs_dropped_identical",
            "pairs_dropped_uncertain",
            "preference_strength_mean",
            "position_bias",
            "order_agreement_rate",
            "chosen_tokens_mean",
            "rejected_tokens_mean",
        ]

    def __init__(self, config: ConstitutionalConfig) -> None:
        self.cfg = config
        self.constitution: Constitution = load_constitution(config.constitution)
        self.trainer: Literal["sft", "dpo"] = "sft" if config.mode == "sl" else "dpo"
        self.train_context = {"reference": config.reference, "beta": config.beta}

    def run_round(self, ctx: RoundContext) -> RoundData:
        return self._sl(ctx) if self.cfg.mode == "sl" else self._rl(ctx)

    def _params(self, n: int, seed: int) -> SamplingParams:
        return SamplingParams(
            n=n,
            temperature=self.cfg.temperature,
            top_p=self.cfg.top_p,
            max_new_tokens=self.cfg.max_new_tokens,
            seed=seed,
        )

    def _sl(self, ctx: RoundContext) -> RoundData:
        cfg, rng = self.cfg, random.Random(ctx.seed)
        prompts = [ctx.task.cot_prompt(q.text) for q in ctx.questions]
        first = ctx.model.generate(
            [[{"role": "user", "content": p}] for p in prompts],
            self._params(1, ctx.seed),
            desc=f"round {ctx.round}: replies",
        )
        principles = [
            [rng.choice(self.constitution.principles) for _ in range(cfg.revision_passes)]
            for _ in prompts
        ]
        passes = critique_and_revise(
            ctx.model,
            prompts,
            [c[0].text for c in first],
            principles,
            self._params(1, ctx.seed + 1),
            cfg.critique_max_new_tokens,
            f"round {ctx.round}",
        )
        proposals, train, reasons = [], [], []
        for q, p, [reply], steps in zip(ctx.questions, prompts, first, passes, strict=True):
            final = steps[-1]["revision"]
            if not final:
                reason = "empty revision"
            elif final.strip() == steps[-1]["critique"].strip():
                reason = "revision repeats the critique"  # a small model often parrots its critique
            elif cfg.drop_truncated and steps[-1]["finish"] == "length":
                reason = "revision cut off at max_new_tokens"
            else:
                reason = "selected"
            reasons.append(reason)
            proposals.append(
                {
                    "question_id": q.id,
                    "question": q.text,
                    "response": reply.text,
                    "passes": steps,
                    "final": final,
                    "changed": final.strip() != reply.text.strip(),
                    "selected": reason == "selected",
                    "reason": reason,
                }
            )
            if reason == "selected":
                train.append(
                    {
                        "prompt": [{"role": "user", "content": p}],
                        "completion": [{"role": "assistant", "content": final}],
                        "question_id": q.id,
                    }
                )
        kept = [pr for pr in proposals if pr["selected"]]
        stats = {
            "questions": len(prompts),
            "questions_selected": len(train),
            "train_rows": len(train),
            "critiques": sum(len(s) for s in passes),
            "empty_revisions": reasons.count("empty revision"),
            "truncated_revisions": reasons.count("revision cut off at max_new_tokens"),
            "parroted_revisions": reasons.count("revision repeats the critique"),
            "revision_changed_rate": sum(pr["changed"] for pr in proposals)
            / max(1, len(proposals)),
            "response_chars_mean": statistics.fmean([len(c[0].text) for c in first])
            if first
            else 0.0,
            "revision_chars_mean": statistics.fmean([len(pr["final"]) for pr in kept])
            if kept
            else float("nan"),
        }
        findings = []
        if not train:
            findings.append(
                Finding(
                    "constitutional",
                    "no usable revision (all empty or cut off): nothing to train on",
                    "warning",
                    {"questions": len(prompts)},
                )
            )
        used = [s["principle"] for steps in passes for s in steps]
        findings.append(
            Finding(
                "constitutional",
                f"{len(used)} critiques under "
                f"{len(set(used))} principles of {self.constitution.name}",
                data={"principles": {n: used.count(n) for n in sorted(set(used))}},
            )
        )
        return RoundData(proposals, train, stats, findings)

    def _rl(self, ctx: RoundContext) -> RoundData:
        cfg, rng = self.cfg, random.Random(ctx.seed)
        prompts = [ctx.task.cot_prompt(q.text) for q in ctx.questions]
        pairs = ctx.model.generate(
            [[{"role": "user", "content": p}] for p in prompts],
            self._params(2, ctx.seed),
            desc=f"round {ctx.round}: two replies per prompt",
        )
        asked = []  # (prompt index, principle)
        chats, options = [], []
        for i, (p, (a, b)) in enumerate(zip(prompts, pairs, strict=True)):
            if a.text.strip() == b.text.strip():
                continue
            principle = rng.choice(self.constitution.principles)
            asked.append((i, principle))
            question = principle.choice_question()
            for first, second in ((a.text, b.text), (b.text, a.text)):
                chat = choice_prompt(p, first, second, question)
                chats += [chat, chat]
                options += list(CHOICES)
        lps = option_logprobs(ctx.model, chats, options, f"round {ctx.round}: AI feedback")
        prefs: dict[int, tuple[Principle, dict[str, Any]]] = {}
        for n, (i, principle) in enumerate(asked):
            la, lb, la2, lb2 = lps[4 * n : 4 * n + 4]
            prefs[i] = (
                principle,
                {"logp_ab": [la, lb], "logp_ba": [la2, lb2], **preference((la, lb), (la2, lb2))},
            )
        proposals, train, reasons, chosen_len, rejected_len = [], [], [], [], []
        for i, (q, p, (a, b)) in enumerate(zip(ctx.questions, prompts, pairs, strict=True)):
            pref = prefs.get(i)
            row: dict[str, Any]
            if pref is None:
                reason, row = "identical replies", {}
            else:
                principle, row = pref
                margin = abs(row["p_first"] - 0.5)
                reason = (
                    "selected"
                    if margin > cfg.min_preference
                    else f"preference within {cfg.min_preference} of 0.5"
                )
                row = {
                    "principle": principle.name,
                    "question_asked": principle.choice_question(),
                    **row,
                }
            reasons.append(reason)
            proposals.append(
                {
                    "question_id": q.id,
                    "question": q.text,
                    "responses": [a.text, b.text],
                    "feedback": row,
                    "selected": reason == "selected",
                    "reason": reason,
                }
            )
            if reason == "selected":
                win, lose = (a, b) if row["p_first"] > 0.5 else (b, a)
                chosen_len.append(win.num_tokens)
                rejected_len.append(lose.num_tokens)
                train.append(
                    {
                        "prompt": [{"role": "user", "content": p}],
                        "chosen": [{"role": "assistant", "content": win.text}],
                        "rejected": [{"role": "assistant", "content": lose.text}],
                        "question_id": q.id,
                        "p_chosen": max(row["p_first"], 1 - row["p_first"]),
                    }
                )
        fb = [v[1] for v in prefs.values()]
        stats = {
            "questions": len(prompts),
            "questions_selected": len(train),
            "train_rows": len(train),
            "pairs_dropped_identical": reasons.count("identical replies"),
            "pairs_dropped_uncertain": sum(r.startswith("preference within") for r in reasons),
            "preference_strength_mean": statistics.fmean([abs(f["p_first"] - 0.5) * 2 for f in fb])
            if fb
            else float("nan"),
            "position_bias": statistics.fmean([f["p_a"] - 0.5 for f in fb]) if fb else float("nan"),
            "order_agreement_rate": statistics.fmean([f["orders_agree"] for f in fb])
            if fb
            else float("nan"),
            "chosen_tokens_mean": statistics.fmean(chosen_len) if chosen_len else float("nan"),
            "rejected_tokens_mean": statistics.fmean(rejected_len)
            if rejected_len
            else float("nan"),
        }
        findings = []
        if fb and abs(stats["position_bias"]) > 0.2:
            findings.append(
                Finding(
                    "constitutional",
                    f"the feedback model favours option "
                    f"{'(A)' if stats['position_bias'] > 0 else '(B)'} by position "
                    f"(mean P(A) {0.5 + stats['position_bias']:.2f}); asking in both orders "
                    f"cancels it, but only {stats['order_agreement_rate']:.0%} of pairs get the "
                    "same verdict both ways",
                    "warning",
                    {"position_bias": stats["position_bias"]},
                )
            )
        if not train:
            findings.append(
                Finding("constitutional", "no preference pair kept: nothing to train on", "warning")
            )
        return RoundData(proposals, train, stats, findings)
