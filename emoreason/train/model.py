"""Load a base VLM + processor for training and wrap it in a LoRA adapter (new, or continued from ``adapter_path``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.train.config import EmoTrainMixin

logger = logging.getLogger(__name__)


def _torch_dtype(name: str) -> Any:
    import torch

    return "auto" if name == "auto" else getattr(torch, name)


def quantization_config(config: EmoTrainMixin) -> Any:
    """A 4-bit bitsandbytes config for QLoRA, or None. Needs CUDA and bitsandbytes; says so plainly otherwise."""
    if not config.load_in_4bit:
        return None
    import torch

    if not torch.cuda.is_available():
        raise EmoreasonError(
            "--load_in_4bit (QLoRA) needs a CUDA GPU; drop the flag to train a plain LoRA on this machine"
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as err:
        raise EmoreasonError("--load_in_4bit needs bitsandbytes: pip install 'emoreason[gpu]'") from err
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=config.bnb_4bit_quant_type,
        bnb_4bit_compute_dtype=compute,
        bnb_4bit_use_double_quant=True,
    )


def load_processor(name_or_path: str, revision: str = "main") -> Any:
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(name_or_path, revision=revision)
    except (OSError, ValueError) as err:
        raise EmoreasonError(
            f"cannot load a processor from {name_or_path!r}: {err}. "
            "Give a local model folder, or a hub id while online"
        ) from err


def load_base_model(config: EmoTrainMixin) -> Any:
    """The base image-text-to-text model, frozen; 4-bit when ``load_in_4bit``."""
    from transformers import AutoModelForImageTextToText

    name = config.model_name_or_path
    assert name is not None
    quant = quantization_config(config)
    kwargs: dict[str, Any] = {"dtype": _torch_dtype(config.dtype), "revision": config.model_revision}
    if config.attn_implementation:
        kwargs["attn_implementation"] = config.attn_implementation
    if quant is not None:
        from accelerate import PartialState

        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {"": PartialState().local_process_index}
    try:
        model = AutoModelForImageTextToText.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as err:
        raise EmoreasonError(
            f"cannot load an image-text-to-text model from {name!r}: {err}. "
            "Give a local model folder (or a hub id while online) of a vision-language model"
        ) from err
    if quant is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=bool(config.gradient_checkpointing))
    return model


def add_lora(model: Any, config: EmoTrainMixin) -> Any:
    """A trainable LoRA on ``model``: loaded from ``adapter_path`` when given, else new from the lora_* fields."""
    from peft import PeftModel, get_peft_model

    if config.adapter_path:
        if not (Path(config.adapter_path) / "adapter_config.json").is_file():
            raise EmoreasonError(f"{config.adapter_path} is not a LoRA adapter folder (no adapter_config.json)")
        logger.info("continuing from adapter %s", config.adapter_path)
        return PeftModel.from_pretrained(model, config.adapter_path, is_trainable=True)
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
