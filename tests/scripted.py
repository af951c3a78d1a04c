"""A scripted Generator for loop tests: replies chosen by rules over the last user message."""

from __future__ import annotations

from driftlab.models.base import Completion


class Scripted:
    name = "scripted"

    def __init__(self, reply, logprob=None):
        self.reply = reply  # (content of the last user message, sample index) -> text
        self.logprob = logprob  # (content of the last user message, completion) -> float
        self.calls: list[str] = []

    def generate(self, chats, params, desc=""):
        self.calls.append(desc)
        return [
            [
                Completion(t, len(t.split()), "stop")
                for t in (self.reply(chat[-1]["content"], i) for i in range(params.n))
            ]
            for chat in chats
        ]

    def logprobs(self, chats, completions):
        return [self.logprob(chat[-1]["content"], c) for chat, c in zip(chats, completions)]

    def option_logprobs(self, prompts, options, desc=""):
        return self.logprobs(prompts, options)

    def text_logprobs(self, texts):
        # a Generator member; scripted replies have no language model to score raw text with
        raise NotImplementedError("Scripted cannot score raw text")
