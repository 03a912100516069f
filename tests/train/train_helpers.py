"""Helpers shared by the training tests: fast trainer flags and a weight-snapshot callback."""

from __future__ import annotations

from typing import Any

FAST = ["--report_to", "none", "--save_strategy", "no", "--dtype", "float32", "--logging_steps", "1", "--seed", "0"]


class WeightSnapshots:
    """A TrainerCallback that copies base and LoRA weights at the start and end of training."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        outer = self
        self.before: tuple[dict, dict] | None = None
        self.after: tuple[dict, dict] | None = None

        class _CB(TrainerCallback):
            def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
                from emoreason.train.model import trainable_state

                outer.before = trainable_state(model)

            def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
                from emoreason.train.model import trainable_state

                outer.after = trainable_state(model)

        self.callback = _CB()
