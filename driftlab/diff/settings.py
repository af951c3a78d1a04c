"""The diff's settings: one validated model shared by the command and the monitor."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

EMBEDDING = "embedding"  # the judge that needs no LM: cosine under the embedder


class DiffSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompts: str | None = Field(None, description="JSONL of prompts; default: the shipped diff set")
    max_prompts: int | None = Field(
        None, ge=2, description="use a seeded subset of this many prompts"
    )
    samples: int = Field(1, ge=1, description="samples per prompt per model")
    temperature: float = Field(0.7, gt=0)
    top_p: float = Field(0.95, gt=0, le=1)
    max_new_tokens: int = Field(96, ge=1)
    seed: int = 0
    embedder: str = "minilm-l6"
    cluster_method: Literal["kmeans", "hdbscan"] = "kmeans"
    k_min: int = Field(2, ge=2)
    k_max: int = Field(12, ge=2)
    alpha: float = Field(0.05, gt=0, lt=1)
    labeler: str = Field("smollm2-135m-instruct", description="model spec that writes labels")
    judge: str = Field(
        EMBEDDING,
        description="validates labels: 'embedding' (the text nearer the label under "
        "the embedder fits it; the offline default) or an LM's model spec (asked in both orders)",
    )
    labels_per_cluster: int = Field(2, ge=1)
    keyword_labels: bool = Field(
        True,
        description="add distinctive-words and shared-phrase label candidates (validated like any)",
    )
    max_labeled: int = Field(5, ge=0, description="label at most this many significant clusters")
    examples: int = Field(4, ge=1, description="texts per model shown to the labeler")
    heldout_fraction: float = Field(0.5, gt=0, lt=1)
    max_pairs: int = Field(24, ge=2, description="held-out prompt pairs per label validation")
    permutations: int = Field(2000, ge=99)
    logratio: bool = Field(True, description="score every text under both models")
    amplify: float = Field(
        0.0,
        ge=0,
        description="alpha of logit-difference amplification: B's texts on the labeling half "
        "are drawn from logits_B + alpha (logits_B - logits_A), to propose hypotheses only "
        "(validation uses B's ordinary texts); 0: off",
    )
    dimensions: list[str] | None = Field(
        None,
        description="named behavior dimensions to test (driftlab.diff.dimensions); "
        "None: the built-ins and dimension files' ones ('default' in the list stands for "
        "them; an installed plugin's are tested only by name), []: none",
    )
    dimension_files: list[str] = Field(
        default_factory=list, description="Python files that register more dimensions"
    )
    intent: str | None = None
    batch_size: int = Field(32, ge=1)

    @model_validator(mode="after")
    def _k_range(self) -> DiffSettings:
        if self.k_max < self.k_min:
            raise ValueError(f"k_max ({self.k_max}) must be >= k_min ({self.k_min})")
        return self

    def model_specs(self) -> dict[str, str]:
        """The models these settings name besides A and B, by key (checked before sampling)."""
        judge = {} if self.judge == EMBEDDING else {"judge": self.judge}
        return {"labeler": self.labeler, **judge}

    def intent_judge(self) -> str:
        """The LM that marks findings against the intent: the judge if it is one, else the
        labeler."""
        return self.labeler if self.judge == EMBEDDING else self.judge
