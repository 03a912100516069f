"""Load a base VLM + processor for training and wrap it in a LoRA adapter (new, or continued from ``adapter_path``).

Loading and its checks are :mod:`emoreason.reasoning.loading`'s, the same as the ``hf`` backend's; only the flag
names in the messages (``--model_name_or_path``, ``--adapter_path``) and the trainable adapter differ.
"""

from __future__ import annotations

import logging
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.reasoning.loading import (
    Flags,
    four_bit_config,
    load_adapter,
    load_config,
    load_model,
    pick_device,
    pick_dtype,
)
from emoreason.reasoning.loading import load_processor as loading_processor
from emoreason.train.config import EmoTrainMixin

logger = logging.getLogger(__name__)


TRAIN_FLAGS = Flags(model="--model_name_or_path", adapter="--adapter_path")


def train_dtype(config: EmoTrainMixin) -> Any:
    """The weights dtype by the one rule (``loading.pick_dtype``) for the device the trainer will use."""
    return pick_dtype("cpu" if getattr(config, "use_cpu", False) else pick_device(), config.dtype)


def load_processor(name_or_path: str, revision: str = "main") -> Any:
    """The base model's processor, with the same checks as the ``hf`` backend (source, VLM, fits its model)."""
    config = load_config(name_or_path, revision, TRAIN_FLAGS)
    return loading_processor(name_or_path, config, revision=revision)


def load_base_model(config: EmoTrainMixin) -> Any:
    """The base image-text-to-text model, frozen; 4-bit when ``load_in_4bit``."""
    name = config.model_name_or_path
    assert name is not None
    model_config = load_config(name, config.model_revision, TRAIN_FLAGS)
    kwargs: dict[str, Any] = {"revision": config.model_revision}
    if config.attn_implementation:
        kwargs["attn_implementation"] = config.attn_implementation
    if config.load_in_4bit:
        from accelerate import PartialState

        kwargs["quantization_config"] = four_bit_config(config.bnb_4bit_quant_type)
        kwargs["device_map"] = {"": PartialState().local_process_index}
    model = load_model(name, model_config, train_dtype(config), TRAIN_FLAGS, **kwargs)
    if config.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=bool(config.gradient_checkpointing))
    return model


def add_lora(model: Any, config: EmoTrainMixin) -> Any:
    """A trainable LoRA on ``model``: loaded from ``adapter_path`` when given (checked to fit), else a new one."""
    from peft import get_peft_model

    if config.adapter_path:
        logger.info("continuing from adapter %s", config.adapter_path)
        return load_adapter(model, config.adapter_path, str(config.model_name_or_path), True, TRAIN_FLAGS)
    try:
        return get_peft_model(model, config.lora_config())
    except ValueError as err:
        raise EmoreasonError(
            f"LoRA found no target modules in {config.model_name_or_path}: {err}. Set --lora_target_modules"
        ) from err


def trainable_state(model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Copies of (base weights, adapter weights) by name: what the smoke tests compare before and after training.

    Adapter weights are the LoRA matrices plus peft's trained copies of ``modules_to_save``.
    """
    base, lora = {}, {}
    for name, param in model.named_parameters():
        (lora if "lora_" in name or ".modules_to_save." in name else base)[name] = param.detach().clone()
    return base, lora
