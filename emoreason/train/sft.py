"""Stage 1: LoRA SFT of a VLM on explanation data, with TRL's SFTTrainer.

Reads top to bottom: load config -> load model (+LoRA, QLoRA on CUDA) -> build data (SFT view) -> build trainer ->
train (resuming when asked) -> save adapter + processor. The loss covers the assistant turn only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.io import atomic_write_json
from emoreason.train.config import EmoSFTConfig, parse_config, require_inputs
from emoreason.train.data import setup_splits, sft_view
from emoreason.train.model import add_lora, load_base_model, load_processor

logger = logging.getLogger(__name__)


def _setup_data(config: EmoSFTConfig, processor: Any) -> tuple[Any, Any | None]:
    """Train (and eval, when the split exists and evaluation is on) datasets in the SFT view."""
    return setup_splits(config, processor, sft_view, "messages", config.max_length)


def _resume_checkpoint(config: EmoSFTConfig) -> str | bool | None:
    """``--resume_from_checkpoint true`` resumes from the newest checkpoint in output_dir, a path from that one."""
    value = config.resume_from_checkpoint
    if value in (None, "", "false", "False"):
        return None
    if str(value).lower() in ("true", "latest"):
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(config.output_dir) if Path(config.output_dir).is_dir() else None
        if last is None:
            logger.warning("no checkpoint in %s yet: starting from scratch", config.output_dir)
        return last
    if not Path(str(value)).is_dir():
        raise EmoreasonError(f"--resume_from_checkpoint {value}: no such checkpoint folder")
    return str(value)


def _build_trainer(
    config: EmoSFTConfig, model: Any, processor: Any, train: Any, test: Any | None, callbacks: list[Any] | None
) -> Any:
    from trl import SFTTrainer

    try:
        return SFTTrainer(
            model=model,
            args=config,
            train_dataset=train,
            eval_dataset=test,
            processing_class=processor,
            callbacks=callbacks,
        )
    except ValueError as err:
        if config.assistant_only_loss and "template" in str(err).lower():
            raise EmoreasonError(
                f"assistant-only loss needs a chat template with {{% generation %}} markers: {err}. "
                "Use a model whose template TRL knows, or pass --assistant_only_loss false"
            ) from err
        raise EmoreasonError(f"cannot set up SFT: {err}") from err


def run_sft(config: EmoSFTConfig, callbacks: list[Any] | None = None) -> Path:
    """Train a LoRA adapter with SFT; returns the output folder (adapter, processor, train_results.json).

    ``callbacks`` are transformers TrainerCallbacks (progress, early stopping, tests' weight snapshots).
    """
    require_inputs(config)
    processor = load_processor(config.model_name_or_path, config.model_revision)  # type: ignore[arg-type]
    model = add_lora(load_base_model(config), config)
    train, test = _setup_data(config, processor)
    logger.info("SFT on %d samples (%s eval)", len(train), len(test) if test is not None else "no")

    trainer = _build_trainer(config, model, processor, train, test, callbacks)
    result = trainer.train(resume_from_checkpoint=_resume_checkpoint(config))

    metrics = dict(result.metrics)
    if test is not None:
        metrics.update(trainer.evaluate())  # collective under DDP: every process runs it
    return save_run(trainer, processor, config, "sft", len(train), metrics)


def save_run(trainer: Any, processor: Any, config: Any, stage: str, num_train: int, metrics: dict[str, Any]) -> Path:
    """Save what a stage made into output_dir: adapter, processor, run info and train_results.json (main process)."""
    out = Path(config.output_dir)
    trainer.save_model(str(out))
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(out)
        write_run_info(out, stage, config, num_train, trainer.state.global_step)
        atomic_write_json(out / "train_results.json", {"metrics": metrics, "log_history": trainer.state.log_history},
                          default=str)
    trainer.accelerator.wait_for_everyone()
    return out


def write_run_info(out: Path, stage: str, config: Any, num_train: int, global_step: int) -> None:
    """``emoreason_train.json``: what made this adapter, read back by the model card (and chained via adapter_path)."""
    fields = (
        "model_name_or_path",
        "dataset_path",
        "dataset_train_split",
        "label_set",
        "adapter_path",
        "lora_r",
        "lora_alpha",
        "lora_dropout",
        "lora_vision",
        "lora_modules_to_save",
        "load_in_4bit",
        "learning_rate",
        "max_steps",
        "num_train_epochs",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "seed",
        "reward_funcs",
        "reward_weights",
        "loss_type",
        "num_generations",
        "max_completion_length",
        "beta",
    )
    info = {
        "stage": stage,
        "num_train_samples": num_train,
        "global_step": global_step,
        "world_size": config.world_size,
    }
    info.update({f: getattr(config, f) for f in fields if hasattr(config, f)})
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        info["distributed_backend"] = dist.get_backend()
    info["lora_target_modules"] = config.target_modules()
    saved = out / "adapter_config.json"
    if saved.is_file():  # the adapter as trained: from --adapter_path, the lora_* flags of this run did not apply
        adapter = json.loads(saved.read_text())
        info.update(
            lora_r=adapter.get("r"),
            lora_alpha=adapter.get("lora_alpha"),
            lora_dropout=adapter.get("lora_dropout"),
            lora_target_modules=adapter.get("target_modules"),
            lora_modules_to_save=adapter.get("modules_to_save"),
        )
    if info.get("adapter_path"):
        info["adapter_path"] = str(Path(info["adapter_path"]).resolve())
    atomic_write_json(out / "emoreason_train.json", info, default=str)


def main(args: Sequence[str]) -> Path:
    """``emoreason train sft --config recipe.yaml [--flag value ...]``."""
    return run_sft(parse_config("sft", args))  # type: ignore[arg-type]
