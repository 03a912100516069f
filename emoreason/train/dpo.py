"""Preference stage: DPO on the pairs people made by correcting rows and answers (TRL's DPOTrainer).

Reads top to bottom: load config -> load model (+LoRA: a new one, or the SFT adapter continued) -> build data (the
pairs ``emoreason review export`` writes; pairs longer than max_length are dropped, never truncated) -> trainer ->
train -> save. The reference is the model as it starts: TRL keeps a frozen copy of the adapter ("ref"), or, for a
new LoRA, the base with the adapter switched off.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.train.config import EmoDPOConfig, parse_config, require_inputs
from emoreason.train.data import dpo_view, prompt_length, setup_splits
from emoreason.train.model import add_lora, load_base_model, load_processor
from emoreason.train.sft import _resume_checkpoint, save_run

logger = logging.getLogger(__name__)


def pair_length(processor: Any, row: dict[str, Any]) -> int:
    """Tokens of the prompt (image tokens included) and the longer of the two answers."""
    images = row.get("images") or []
    return max(prompt_length(processor, row["prompt"] + row[side], images) for side in ("chosen", "rejected"))


def _drop_long(ds: Any, processor: Any, max_tokens: int | None) -> Any:
    if ds is None or not max_tokens:
        return ds
    before = len(ds)
    ds = ds.filter(lambda row: pair_length(processor, row) <= max_tokens)
    if len(ds) < before:
        logger.warning("dropped %d of %d pairs longer than %d tokens", before - len(ds), before, max_tokens)
    if len(ds) == 0:
        raise EmoreasonError(f"every pair is longer than {max_tokens} tokens; raise --max_length")
    return ds


def _setup_data(config: EmoDPOConfig, processor: Any) -> tuple[Any, Any | None]:
    """Train (and eval) pairs in the DPO view, over-long pairs dropped (see the module docstring)."""
    train, test = setup_splits(config, processor, dpo_view, "prompt", None)
    return _drop_long(train, processor, config.max_length), _drop_long(test, processor, config.max_length)


def run_dpo(config: EmoDPOConfig, callbacks: list[Any] | None = None) -> Path:
    """Train the adapter on preference pairs; returns the output folder (adapter, processor, train_results.json)."""
    from trl import DPOTrainer

    require_inputs(config)
    processor = load_processor(config.model_name_or_path, config.model_revision)  # type: ignore[arg-type]
    model = add_lora(load_base_model(config), config)
    train, test = _setup_data(config, processor)
    logger.info("DPO on %d pairs (%s eval)", len(train), len(test) if test is not None else "no")
    try:
        trainer = DPOTrainer(
            model=model,
            args=config,
            train_dataset=train,
            eval_dataset=test,
            processing_class=processor,
            callbacks=callbacks,
        )
    except ValueError as err:
        raise EmoreasonError(f"cannot set up DPO: {err}") from err
    result = trainer.train(resume_from_checkpoint=_resume_checkpoint(config))  # type: ignore[arg-type]
    metrics = dict(result.metrics)
    if test is not None:
        metrics.update(trainer.evaluate())
    return save_run(trainer, processor, config, "dpo", len(train), metrics)


def main(args: Sequence[str]) -> Path:
    """``emoreason train dpo --config recipe.yaml --dataset_path REVIEW_OUT/pairs [--adapter_path SFT] ...``."""
    return run_dpo(parse_config("dpo", args))  # type: ignore[arg-type]
