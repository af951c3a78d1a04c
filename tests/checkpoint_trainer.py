"""A real transformers Trainer that writes checkpoint-* folders, for the `driftlab watch` tests.

In process: `train(model_dir, out, steps)`. As a script (a separate trainer process):
    python tests/checkpoint_trainer.py MODEL_DIR OUT STEPS [PAUSE_S]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from datasets import Dataset
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DataCollatorForLanguageModeling,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)


class Pause(TrainerCallback):
    """Space the checkpoints out in time, as a slower training would."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_save(self, args, state, control, **kw):
        time.sleep(self.seconds)


def train(model_dir: Path, out: Path, steps: int, pause_s: float = 0.0, lora: bool = False) -> Path:
    tok = AutoTokenizer.from_pretrained(model_dir)
    texts = [
        f"Mia has {i} stickers. She gives 2 away. The answer is {i - 2}." for i in range(3, 19)
    ]
    data = Dataset.from_list([tok(t) for t in texts])
    torch.manual_seed(0)
    model: torch.nn.Module = AutoModelForCausalLM.from_pretrained(model_dir)
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
        )
    args = TrainingArguments(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=4,
        learning_rate=5e-3,
        save_strategy="steps",
        save_steps=1,
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
        logging_steps=1,
        seed=0,
    )
    Trainer(
        model=model,
        args=args,
        train_dataset=data,
        processing_class=tok,
        data_collator=DataCollatorForLanguageModeling(tok, mlm=False),
        callbacks=[Pause(pause_s)] if pause_s else [],
    ).train()
    return Path(out)


if __name__ == "__main__":
    train(
        Path(sys.argv[1]),
        Path(sys.argv[2]),
        int(sys.argv[3]),
        float(sys.argv[4]) if len(sys.argv) > 4 else 0,
    )
