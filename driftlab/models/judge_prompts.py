"""Judge prompt templates by name, so a config can pick one, or bring its own text.

The self-rewarding judge follows the additive 5-point rubric of Yuan et al. 2024
(arXiv:2401.10020, Figure 2): points accumulate criterion by criterion (relevant, covers most
of the request, answers the core of it usefully, direct and well organised from an
assistant's point of view, expert and tailored), and the judge ends with the total. The
wording here is the project's own. "additive-5pt" keeps the paper's order (justify, then the
score); "additive-5pt-brief" asks for the score first, which a small judge with a short token
budget reaches far more often before it is cut off.

A template is plain text with `{prompt}` and `{response}` placeholders; a config value that
contains them is used as is, any other value names a registered template.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from driftlab.errors import ConfigError
from driftlab.registry import Registry

JUDGE_PROMPTS: Registry[str] = Registry("judge prompt")

_RUBRIC = """\
Rate the assistant's reply to the user's request below on an additive scale from 0 to 5 points.
Start from 0 and add points for each criterion the reply meets:
- +1 if the reply is on topic and gives some information related to the request, even if it is \
incomplete or partly off track.
- +1 more if it covers a good part of what was asked, without fully resolving it.
- +1 more if it usefully answers the core of the request, even if it is not polished or exhaustive.
- +1 more if it is clear, well organised and written as an assistant answering the user \
directly and completely, with little that is redundant or beside the point.
- +1 more if it is excellent: precise, well judged, tailored to this user, showing real \
expertise with nothing unnecessary.

User request:
{prompt}

Assistant reply:
<reply>{response}</reply>
"""

JUDGE_PROMPTS.register("additive-5pt")(
    _RUBRIC
    + """
First explain your total in at most 100 words. Then finish with a last line of the form \
"Score: N", where N is the total number of points."""
)

JUDGE_PROMPTS.register("additive-5pt-brief")(
    _RUBRIC
    + """
Start your answer with a line of the form "Score: N", where N is the total number of points, \
then give a one-sentence reason."""
)


def resolve_template(value: str, fields: tuple[str, ...] = ("prompt", "response")) -> str:
    """A registered template's text, or `value` itself when it already has every placeholder."""
    if all("{" + f + "}" in value for f in fields):
        return value
    if value in JUDGE_PROMPTS:
        return JUDGE_PROMPTS.get(value)
    placeholders = ", ".join("{" + f + "}" for f in fields)
    raise ConfigError(
        f"judge prompt {value[:60]!r} is neither a registered template "
        f"({', '.join(JUDGE_PROMPTS.names())}) nor a text with the placeholders {placeholders}"
    )


def _check(value: str) -> str:
    try:
        resolve_template(value)
    except ConfigError as e:  # as a ValueError, pydantic names the config key
        raise ValueError(str(e)) from None
    return value


JudgePrompt = Annotated[str, AfterValidator(_check)]
"""A config field holding a template name or text, checked when the config loads."""


def fill(template: str, **fields: str) -> str:
    """Substitute placeholders literally: a brace in a user's prompt must not break formatting."""
    for key, value in fields.items():
        template = template.replace("{" + key + "}", value)
    return template
