"""LMSI: Large Language Models Can Self-Improve (Huang et al. 2022, arXiv:2210.11610).

For each unlabeled question the model samples m chain-of-thought paths at temperature T,
the extracted answers vote, and the paths that reach the majority answer become
training targets. The majority's vote share is the confidence (the paper shows it tracks
accuracy); an optional threshold drops low-confidence questions. Selected paths are
trained in the paper's mixed formats: with and without few-shot exemplars, as chain of
thought and as a direct answer. Paper defaults: m=32, T=0.7 (its Table 9 explores T).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from driftlab.findings import Finding
from driftlab.loops.base import LOOPS, LoopTask, RoundContext, RoundData
from driftlab.models.base import Chat, SamplingParams
from driftlab.tasks.base import Question

Format = Literal["cot", "direct", "cot_fewshot", "direct_fewshot"]


class LMSIConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    samples: int = Field(32, ge=1, description="m: reasoning paths per question (paper: 32)")
    temperature: float = Field(0.7, gt=0, description="T (paper: 0.7)")
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(256, ge=1)
    min_vote_share: float = Field(0.0, ge=0, le=1, description="confidence threshold")
    sample_fewshot: bool = Field(True, description="sample with few-shot exemplars (as the paper)")
    exemplars: int | None = Field(None, ge=1, description="how many of the task's exemplars to use")
    formats: list[Format] = Field(
        default_factory=lambda: ["cot", "direct", "cot_fewshot", "direct_fewshot"],
        min_length=1,
        description="the paper's mixed training formats",
    )
    max_paths_per_question: int | None = Field(None, ge=1)
    generated_questions: int = Field(0, ge=0, description="self-generated questions per round")


def majority_vote(answers: list[str | None]) -> tuple[str | None, float]:
    """The most common extracted answer and its share of all m samples (None if none parse).

    Ties go to the answer reached first, so the vote is deterministic.
    """
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None, 0.0
    best = max(counts, key=lambda a: (counts[a], -answers.index(a)))
    return best, counts[best] / len(answers)


def fewshot_turns(task: LoopTask, direct: bool, limit: int | None = None) -> Chat:
    turns: Chat = []
    for ex in task.exemplars[:limit]:
        if direct:
            turns += [
                {"role": "user", "content": task.direct_prompt(ex.question)},
                {"role": "assistant", "content": f"The answer is {ex.answer}."},
            ]
        else:
            turns += [
                {"role": "user", "content": task.cot_prompt(ex.question)},
                {"role": "assistant", "content": ex.rationale},
            ]
    return turns


def format_examples(
    task: LoopTask,
    question: str,
    paths: list[str],
    answer: str,
    formats,
    exemplars: int | None = None,
) -> list[dict]:
    """Training rows (TRL conversational prompt-completion) in the requested formats.

    Chain-of-thought formats give one row per kept path; direct formats one row per question.
    """
    rows = []
    for fmt in formats:
        fewshot = fmt.endswith("_fewshot")
        direct = fmt.startswith("direct")
        prefix = fewshot_turns(task, direct, exemplars) if fewshot else []
        ask = task.direct_prompt(question) if direct else task.cot_prompt(question)
        targets = [f"The answer is {answer}."] if direct else paths
        for target in targets:
            rows.append(
                {
                    "prompt": [*prefix, {"role": "user", "content": ask}],
                    "completion": [{"role": "assistant", "content": target}],
                    "format": fmt,
                }
            )
    return rows


@LOOPS.register("lmsi")
class LMSI:
    Config = LMSIConfig
    trainer = "sft"

    @classmethod
    def metric_names(cls, config: LMSIConfig) -> list[str]:
        return [
            "questions",
            "questions_selected",
            "paths_selected",
            "train_rows",
            "mean_vote_share",
            "no_answer_rate",
        ]

    def __init__(self, config: LMSIConfig) -> None:
        self.cfg = config
        self.train_context: dict[str, Any] = {}  # SFT needs nothing besides the rows

    def run_round(self, ctx: RoundContext) -> RoundData:
        cfg, task = self.cfg, ctx.task
        questions = list(ctx.questions)
        findings: list[Finding] = []
        if cfg.generated_questions:
            new = self.generate_questions(ctx)
            findings.append(
                Finding(
                    "lmsi",
                    f"the model wrote {len(new)} usable new questions "
                    f"of {cfg.generated_questions} requested",
                    data={"questions": len(new)},
                )
            )
            questions += new
        prefix = (
            fewshot_turns(task, direct=False, limit=cfg.exemplars) if cfg.sample_fewshot else []
        )
        chats = [[*prefix, {"role": "user", "content": task.cot_prompt(q.text)}] for q in questions]
        params = SamplingParams(
            n=cfg.samples,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_new_tokens=cfg.max_new_tokens,
            seed=ctx.seed,
        )
        samples = ctx.model.generate(chats, params, desc=f"round {ctx.round}: sampling paths")
        proposals, train, shares = [], [], []
        no_answer = 0
        for q, comps in zip(questions, samples, strict=True):
            answers = [task.extract(c.text) for c in comps]
            majority, share = majority_vote(answers)
            keep = majority is not None and share >= cfg.min_vote_share
            if majority is None:
                no_answer += 1
            reason = (
                "no answer extracted"
                if majority is None
                else "selected"
                if keep
                else f"vote share {share:.2f} < {cfg.min_vote_share}"
            )
            paths = []
            for i, (c, a) in enumerate(zip(comps, answers)):
                limit = cfg.max_paths_per_question
                taken = keep and a == majority and (limit is None or len(paths) < limit)
                if taken:
                    paths.append(c.text)
                proposals.append(
                    {
                        "question_id": q.id,
                        "question": q.text,
                        "sample": i,
                        "text": c.text,
                        "answer": a,
                        "majority": majority,
                        "vote_share": share,
                        "selected": taken,
                        "reason": reason,
                    }
                )
            shares.append(share)
            if keep:
                for row in format_examples(
                    task, q.text, paths, majority, cfg.formats, cfg.exemplars
                ):
                    train.append({**row, "question_id": q.id, "vote_share": share})
        selected = sum(1 for p in proposals if p["selected"])
        kept_q = len({r["question_id"] for r in train})
        if not train:
            findings.append(
                Finding(
                    "lmsi",
                    f"no question reached the vote-share threshold {cfg.min_vote_share} "
                    f"({no_answer} of {len(questions)} gave no parseable answer): "
                    "nothing to train on",
                    "warning",
                    {"questions": len(questions)},
                )
            )
        stats = {
            "questions": len(questions),
            "questions_selected": kept_q,
            "paths_selected": selected,
            "train_rows": len(train),
            "mean_vote_share": sum(shares) / max(1, len(shares)),
            "no_answer_rate": no_answer / max(1, len(questions)),
        }
        return RoundData(proposals, train, stats, findings)

    def generate_questions(self, ctx: RoundContext) -> list[Question]:
        """Ask the model for new questions in the style of a few given ones (paper section 3.3)."""
        examples = [q.text for q in ctx.questions[:4]] or [e.question for e in ctx.task.exemplars]
        listing = "\n".join(f"Problem: {e}" for e in examples)
        ask = (
            f"Here are some problems:\n{listing}\n\n"
            "Write one new problem of the same kind, with different numbers. "
            'Reply with the problem only, starting with "Problem:".'
        )
        params = SamplingParams(
            n=self.cfg.generated_questions,
            temperature=1.0,
            top_p=0.95,
            max_new_tokens=96,
            seed=ctx.seed + 1,
        )
        comps = ctx.model.generate(
            [[{"role": "user", "content": ask}]],
            params,
            desc=f"round {ctx.round}: writing questions",
        )[0]
        seen = {q.text for q in ctx.questions}
        out = []
        for c in comps:
            text = re.sub(r"^\s*Problem:\s*", "", c.text).split("\n\n")[0].strip()
            if (
                "?" in text
                and re.search(r"\d", text)
                and 20 <= len(text) <= 400
                and text not in seen
            ):
                seen.add(text)
                out.append(Question(f"gen-{ctx.round}-{len(out)}", text))
        return out
