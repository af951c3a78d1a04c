from driftlab.loops.base import LoopTask, RoundContext
from driftlab.loops.lmsi import LMSI, LMSIConfig, format_examples
from driftlab.models.base import Completion
from driftlab.models.hf import HFModel
from driftlab.tasks import build_task
from driftlab.tasks.base import Question
from driftlab.tasks.extract import majority_vote

TASK = build_task("arithmetic")
LOOP_TASK = LoopTask(
    "arithmetic", TASK.cot_prompt, TASK.direct_prompt, TASK.extract, tuple(TASK.exemplars)
)


class Scripted:
    """A generator that answers each question with fixed texts: the vote logic in isolation."""

    name = "scripted"

    def __init__(self, answers: dict[str, list[str]]):
        self.answers = answers

    def generate(self, chats, params, desc=""):
        out = []
        for chat in chats:
            q = next(k for k in self.answers if k in chat[-1]["content"])
            out.append([Completion(t, 5, "stop") for t in self.answers[q][: params.n]])
        return out

    # the rest of the Generator protocol: the vote logic only samples
    def logprobs(self, chats, completions):
        raise NotImplementedError

    def text_logprobs(self, texts):
        raise NotImplementedError

    def option_logprobs(self, prompts, options, desc=""):
        raise NotImplementedError


def test_majority_vote():
    assert majority_vote(["3", "4", "3", None]) == ("3", 0.5)
    assert majority_vote([None, None]) == (None, 0.0)
    assert majority_vote(["5", "4", "4", "5"]) == ("5", 0.5)  # a tie goes to the first reached


def test_round_selects_majority_paths_above_threshold():
    model = Scripted(
        {
            "Q1": [
                "so 3. The answer is 3.",
                "The answer is 3.",
                "The answer is 4.",
                "The answer is 3.",
            ],
            "Q2": ["The answer is 1.", "The answer is 2.", "The answer is 3.", "hmm"],
            "Q3": ["no idea", "none", "what", "?"],
        }
    )
    qs = [Question("a", "Q1"), Question("b", "Q2"), Question("c", "Q3")]
    loop = LMSI(LMSIConfig(samples=4, min_vote_share=0.5, formats=["cot", "direct"]))
    data = loop.run_round(RoundContext(1, model, LOOP_TASK, qs, seed=0))
    assert len(data.proposals) == 12
    picked = [p for p in data.proposals if p["selected"]]
    assert {p["question_id"] for p in picked} == {"a"} and len(picked) == 3
    assert all(p["answer"] == "3" for p in picked)
    reasons = {p["question_id"]: p["reason"] for p in data.proposals}
    assert reasons == {"a": "selected", "b": "vote share 0.25 < 0.5", "c": "no answer extracted"}
    # 3 chain-of-thought rows (one per majority path) + 1 direct-answer row
    assert [r["format"] for r in data.train] == ["cot"] * 3 + ["direct"]
    assert data.train[-1]["completion"][0]["content"] == "The answer is 3."
    assert data.stats["questions_selected"] == 1 and data.stats["no_answer_rate"] == 1 / 3
    assert not data.findings


def test_empty_selection_is_a_recorded_finding_not_a_crash():
    model = Scripted({"Q1": ["The answer is 1.", "The answer is 2."]})
    loop = LMSI(LMSIConfig(samples=2, min_vote_share=0.9))
    data = loop.run_round(RoundContext(1, model, LOOP_TASK, [Question("a", "Q1")], seed=0))
    assert data.train == [] and data.findings[0].severity == "warning"
    assert "nothing to train on" in data.findings[0].message


def test_the_four_paper_formats():
    rows = format_examples(
        LOOP_TASK,
        "Q?",
        ["path one", "path two"],
        "7",
        ["cot", "direct", "cot_fewshot", "direct_fewshot"],
    )
    assert [r["format"] for r in rows] == [
        "cot",
        "cot",
        "direct",
        "cot_fewshot",
        "cot_fewshot",
        "direct_fewshot",
    ]
    fewshot = rows[3]["prompt"]
    assert len(fewshot) == 2 * len(TASK.exemplars) + 1 and fewshot[1]["role"] == "assistant"
    assert fewshot[1]["content"] == TASK.exemplars[0].rationale
    assert rows[5]["prompt"][1]["content"] == f"The answer is {TASK.exemplars[0].answer}."


def test_paths_capped_per_question():
    model = Scripted({"Q1": ["The answer is 3."] * 5})
    loop = LMSI(LMSIConfig(samples=5, max_paths_per_question=2, formats=["cot"]))
    data = loop.run_round(RoundContext(1, model, LOOP_TASK, [Question("a", "Q1")], seed=0))
    assert len(data.train) == 2 and sum(p["selected"] for p in data.proposals) == 2


def test_self_generated_questions_on_a_real_tiny_model(tiny_model):
    loop = LMSI(LMSIConfig(samples=2, max_new_tokens=8, generated_questions=6))
    model = HFModel.load(str(tiny_model))
    ctx = RoundContext(
        1, model, LOOP_TASK, [Question("a", TASK.problems("train", 1)[0].question)], seed=0
    )
    new = loop.generate_questions(ctx)
    # A random model rarely writes a usable question; whatever passes the filter is well formed.
    assert all("?" in q.text and any(ch.isdigit() for ch in q.text) for q in new)
    data = loop.run_round(ctx)
    assert data.findings[0].message.startswith("the model wrote")
