"""Trainers by name (a loop declares which one it needs: "sft", "dpo").

A trainer is `fn(model, rows, cfg, adapter_dir, seed, desc, **context) -> TrainResult`: it
trains a fresh LoRA adapter on top of `model`, saves it to `adapter_dir`, and merges it
into `model` (train/common.py holds TrainResult and the run every TRL trainer shares).
`context` carries what some trainers need, e.g. `initial_model` (a loader of model_0, for a
DPO reference anchored at the start) and `lineage` (the adapters stacked on the base to make
`model`, from which a launched worker rebuilds it).
"""

from driftlab.registry import Registry

TRAINERS: Registry = Registry("trainer")


def get_trainer(name: str, processes: int = 1, accelerate_config: str | None = None):
    """The trainer `name`, run in this process, or in `processes` under `accelerate launch`."""
    # Imported lazily: TRL takes seconds to import and most commands never train.
    from driftlab.train import (
        dpo,  # noqa: F401  (registers "dpo")
        sft,  # noqa: F401  (registers "sft")
    )

    trainer = TRAINERS.get(name)  # an unknown name fails here, in the controller
    if processes == 1 and accelerate_config is None:
        return trainer
    from driftlab.train.launch import launched

    return launched(name, processes, accelerate_config)
