"""The two-choice judge: which of two options a model prefers, read from log-probabilities.

Every part of driftlab that asks a model to choose (RL-CAI feedback, the red-team classifier,
the bias, semantic and reflectivity probes, the diff's validation and intent judges, w2s
prompting) asks here, so the scoring and the arithmetic exist once. A choice is read from
log p(option | prompt) of the two options (`Generator.option_logprobs`), normalised over the
two: no reply has to be sampled or parsed.

Small models favour a slot whatever it holds, so a question is best asked twice: `forward`
shows the first choice as options[0], `backward` the same question with the choices swapped
(or its inverse, "is it harmful?" / "is it safe?"). `Verdict.p_first` averages the two
readings, which cancels a pure position (or yes-) bias; `p_slot` is that bias itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from driftlab.models.base import Chat, Generator, Prompt

CHECK: Chat = [{"role": "user", "content": "Is this a question? Answer Yes or No."}]


def normalise(lp_a: float, lp_b: float) -> float:
    """P(a) over the two options from their log-probabilities: exp(a) / (exp(a) + exp(b))."""
    d = lp_b - lp_a
    return 1.0 / (1.0 + math.exp(d)) if d < 700 else 0.0


@dataclass(frozen=True)
class TwoChoice:
    """One question. `backward`: the same question with the choices swapped, or None (ask once)."""

    forward: Prompt
    backward: Prompt | None = None


@dataclass(frozen=True)
class Verdict:
    """The judge's reading of one TwoChoice: the raw log-probs of (options[0], options[1])."""

    logp_forward: tuple[float, float]
    logp_backward: tuple[float, float] | None = None

    @property
    def p_forward(self) -> float:
        """P(options[0]) asked forward: P(the first choice)."""
        return normalise(*self.logp_forward)

    @property
    def p_backward(self) -> float | None:
        """P(options[0]) asked backward: P(the second choice)."""
        return None if self.logp_backward is None else normalise(*self.logp_backward)

    @property
    def p_first(self) -> float:
        """P(the first choice), averaged over both orders when asked in both."""
        back = self.p_backward
        return self.p_forward if back is None else (self.p_forward + (1.0 - back)) / 2

    @property
    def p_slot(self) -> float | None:
        """Mean P(options[0]) whatever it holds: 0.5 means no position bias."""
        back = self.p_backward
        return None if back is None else (self.p_forward + back) / 2

    @property
    def orders_agree(self) -> bool | None:
        """Do both orders pick the same choice? A reading of exactly 0.5 counts as the second."""
        back = self.p_backward
        return None if back is None else (self.p_forward > 0.5) == (1.0 - back > 0.5)

    @property
    def log_odds(self) -> float:
        """log p(options[0]) - log p(options[1]), asked forward."""
        return self.logp_forward[0] - self.logp_forward[1]


def judge(
    model: Generator,
    questions: list[TwoChoice],
    options: tuple[str, str] = ("A", "B"),
    desc: str = "judging",
) -> list[Verdict]:
    """One Verdict per question, in order; all prompts go to the backend in one call."""
    prompts: list[Prompt] = []
    for q in questions:
        for prompt in (q.forward, q.backward):
            if prompt is not None:
                prompts += [prompt, prompt]
    lps = model.option_logprobs(prompts, list(options) * (len(prompts) // 2), desc)
    out, k = [], 0
    for q in questions:
        forward = (lps[k], lps[k + 1])
        k += 2
        backward = None
        if q.backward is not None:
            backward = (lps[k], lps[k + 1])
            k += 2
        out.append(Verdict(forward, backward))
    return out


def check_judge(model: Generator) -> None:
    """Ask for one tiny option log-prob, so a backend that cannot give them (a chat-only server,
    no `template`) fails with its one clear DriftlabError before any expensive work."""
    model.option_logprobs([CHECK], ["Yes"], "checking the judge")
