"""Stage 2: GRPO from the SFT adapter, with rewards computed from the labels (TRL's GRPOTrainer).

Reads top to bottom: load config -> load model (+ the SFT adapter, trainable) -> build data (GRPO view; prompts longer
than max_prompt_length are dropped, since truncating would cut image tokens) -> rewards -> trainer -> train -> save.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.reasoning.loading import require_gpu_package
from emoreason.train.config import EmoGRPOConfig, parse_config, require_inputs
from emoreason.train.data import grpo_view, setup_splits
from emoreason.train.model import add_lora, load_base_model, load_processor
from emoreason.train.rewards import build_rewards
from emoreason.train.sft import _resume_checkpoint, save_run

logger = logging.getLogger(__name__)


def _check_vllm(config: EmoGRPOConfig) -> None:
    """vLLM generation is optional and GPU-only; fail early, with what to do, when it can't work."""
    if not config.use_vllm:
        return
    require_gpu_package(
        "--use_vllm", "vllm", "vLLM", "pass --use_vllm false (recipes turn it on) to generate with transformers"
    )


def _setup_data(config: EmoGRPOConfig, processor: Any) -> tuple[Any, Any | None]:
    """Train (and eval) prompts in the GRPO view; prompts over max_prompt_length are dropped (see module docstring)."""
    return setup_splits(config, processor, grpo_view, "prompt", config.max_prompt_length)


def _rewards(config: EmoGRPOConfig) -> list[Any]:
    return build_rewards(
        config.reward_funcs,
        label_set=config.label_set,
        max_words=config.length_max_words,
        ngram=config.repetition_ngram,
    )


def run_grpo(config: EmoGRPOConfig, callbacks: list[Any] | None = None) -> Path:
    """Align the adapter with GRPO; returns the output folder (adapter, processor, train_results.json)."""
    from trl import GRPOTrainer

    require_inputs(config)
    _check_vllm(config)
    if not config.adapter_path:
        logger.warning("no --adapter_path: GRPO starts from a fresh LoRA, not from an SFT adapter")
    processor = load_processor(config.model_name_or_path, config.model_revision)  # type: ignore[arg-type]
    model = add_lora(load_base_model(config), config)
    train, test = _setup_data(config, processor)
    rewards = _rewards(config)
    logger.info("GRPO on %d prompts with rewards %s", len(train), ", ".join(config.reward_funcs))

    try:
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=rewards,
            args=config,
            train_dataset=train,
            eval_dataset=test,
            processing_class=processor,
            callbacks=callbacks,
        )
    except ValueError as err:
        raise EmoreasonError(f"cannot set up GRPO: {err}") from err
    result = trainer.train(resume_from_checkpoint=_resume_checkpoint(config))  # type: ignore[arg-type]
    return save_run(trainer, processor, config, "grpo", len(train), dict(result.metrics))


def main(args: Sequence[str]) -> Path:
    """``emoreason train grpo --config recipe.yaml --adapter_path runs/sft [--flag value ...]``."""
    return run_grpo(parse_config("grpo", args))  # type: ignore[arg-type]
