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
pair is asked in both orders and the two probabilities averaged (models/judging.py), which
cancels the judge's bias towards a position; how much the orders disagree is reported. The
preferred reply is "chosen" and the other "rejected", and the pairs train with DPO.
"""

from __future__ import annotations

import random
import re
import statistics
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from driftlab.findings import Finding
from driftlab.loops.base import LOOPS, RoundContext, RoundData
from driftlab.loops.principles import (
    Constitution,
    Principle,
    check_constitution,
    load_constitution,
)
from driftlab.models.base import Chat, Generator, SamplingParams
from driftlab.models.judging import TwoChoice, Verdict, judge
from driftlab.train.settings import DPOSettings

CHOICES = ("(A)", "(B)")


class ConstitutionalConfig(DPOSettings):
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
    """For each prompt, one critique-revision pass per principle in its list, each on the last
    reply.

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


def preference(v: Verdict) -> dict:
    """The stored feedback: P(first reply is better) over both orders, and the position bias.

    logp_ab: log p of "(A)", "(B)" with the first reply shown as (A); logp_ba: the same with
    the first reply shown as (B). `p_a` is how much the judge likes slot (A) whatever is in
    it: 0.5 means no position bias.
    """
    assert v.logp_backward is not None and v.p_backward is not None  # asked in both orders
    return {
        "logp_ab": list(v.logp_forward),
        "logp_ba": list(v.logp_backward),
        "p_first": v.p_first,
        "p_first_ab": v.p_forward,
        "p_first_ba": 1.0 - v.p_backward,
        "p_a": v.p_slot,
        "orders_agree": float(bool(v.orders_agree)),
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
        self.train_context = config.dpo_context()

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
        questions = []
        for i, (p, (a, b)) in enumerate(zip(prompts, pairs, strict=True)):
            if a.text.strip() == b.text.strip():
                continue
            principle = rng.choice(self.constitution.principles)
            asked.append((i, principle))
            asked_q = principle.choice_question()
            questions.append(
                TwoChoice(
                    choice_prompt(p, a.text, b.text, asked_q),
                    choice_prompt(p, b.text, a.text, asked_q),
                )
            )
        verdicts = judge(ctx.model, questions, CHOICES, f"round {ctx.round}: AI feedback")
        prefs = {
            i: (principle, preference(v)) for (i, principle), v in zip(asked, verdicts, strict=True)
        }
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
