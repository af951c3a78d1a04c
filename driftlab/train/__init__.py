"""Trainers by name (a loop declares which one it needs: "sft", "dpo").

A trainer is `fn(model, rows, cfg, adapter_dir, seed, desc, **context) -> TrainResult`: it
trains a fresh LoRA adapter on top of `model`, saves it to `adapter_dir`, and merges it
into `model`. `context` carries what some trainers need, e.g. `initial_model` (a loader of
model_0, for a DPO reference anchored at the start).
"""

from driftlab.registry import Registry

TRAINERS: Registry = Registry("trainer")


def get_trainer(name: str):
    # Imported lazily: TRL takes seconds to import and most commands never train.
    from driftlab.train import sft  # noqa: F401  (registers "sft")
    from driftlab.train import dpo  # noqa: F401  (registers "dpo")

    return TRAINERS.get(name)
