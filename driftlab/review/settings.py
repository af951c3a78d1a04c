"""The `[review]` config section: pause each round for a person before training."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReviewConfig(BaseModel):
    """Human review of proposed training data (off by default: loops run unattended).

    With `enabled = true` each round stops after proposing, before training; the run's
    status becomes "awaiting_review" until `driftlab review RUN` records a person's
    decisions and the review is finished, and `driftlab run --resume` then trains on the
    accepted and edited rows only.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    enabled: bool = False
    critique: bool = Field(
        True,
        description="write a model critique of each example for the reviewer "
        "(Saunders et al. 2022), once, with the round's own model",
    )
    critique_max_new_tokens: int = Field(
        64, ge=8, le=512, description="length cap of each critique: keeps the pause cheap on CPU"
    )
