"""The one loader of a VLM, its processor and a LoRA adapter, with its checks: the ``hf`` and ``vllm`` backends and
training all go through it (training imports reasoning, never the other way round).

- The model is a local folder or a hub id, passed to ``from_pretrained`` unchanged (the user's HF cache, or online).
  A missing folder, a file, a folder without ``config.json``, a hub id that cannot be fetched (offline, not
  downloaded) and a text-only model are each one line that says what to do.
- The processor must be multimodal and fit its model (tokenizer size, image token id).
- The dtype rule (:func:`pick_dtype`): the one asked for; else bfloat16 on CUDA where the GPU supports it, float16
  on other CUDA GPUs and on Apple MPS, float32 on CPU. ``"auto"`` means this rule, not the checkpoint's dtype.
- An adapter trained on another base model is an error, not a silent no-op (class, model type, then its weights).
- QLoRA's 4-bit config (:func:`four_bit_config`) imports bitsandbytes only when asked, and needs CUDA.

Error messages name the flag the user typed; ``Flags`` holds them (the CLI's ``--model``/``--adapter``, training's
``--model_name_or_path``/``--adapter_path``).
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError

logger = logging.getLogger(__name__)

DTYPES = ("auto", "bfloat16", "float16", "float32")


@dataclass(frozen=True)
class Flags:
    """The option names the user gave the model and the adapter with (they appear in the error messages)."""

    model: str = "--model"
    adapter: str = "--adapter"


CLI_FLAGS = Flags()


# -- device and dtype ------------------------------------------------------------------------------------------
def pick_device(device: str | None = None) -> str:
    """The device to run on: the one asked for, else CUDA, then Apple MPS, then CPU."""
    import torch

    if device:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise EmoreasonError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu")
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(device: str, dtype: str | Any | None = None) -> Any:
    """bfloat16 on CUDA (float16 where bf16 is unsupported), float16 on MPS, float32 on CPU; or the one asked for."""
    import torch

    if dtype is not None and not isinstance(dtype, str):
        return dtype
    if dtype not in (None, "auto"):
        if dtype not in DTYPES:
            raise EmoreasonError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
        return getattr(torch, dtype)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def require_gpu_package(flag: str, module: str, package: str, on_cpu: str) -> None:
    """A GPU-only flag's two preconditions, each one line that says what to do: a CUDA GPU (``on_cpu``: the way
    round it here) and the ``module`` of the gpu extra (``package`` is its name for people)."""
    import importlib

    import torch

    if not torch.cuda.is_available():
        raise EmoreasonError(f"{flag} needs a CUDA GPU; {on_cpu}")
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise EmoreasonError(f"{flag} needs {package}: pip install 'emoreason[gpu]'") from err


def four_bit_config(quant_type: str = "nf4") -> Any:
    """A 4-bit bitsandbytes config for QLoRA (compute dtype by the CUDA rule). Needs CUDA and bitsandbytes."""
    require_gpu_package(
        "--load_in_4bit (QLoRA)", "bitsandbytes", "bitsandbytes", "drop the flag to train a plain LoRA on this machine"
    )
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant_type,
        bnb_4bit_compute_dtype=pick_dtype("cuda"),
        bnb_4bit_use_double_quant=True,
    )


# -- the model's source and config -----------------------------------------------------------------------------
# A hub id is ``name`` or ``org/name``; dots are common in them (Qwen/Qwen2.5-VL-3B-Instruct), so no suffix test.
_HUB_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)?")


def check_model_source(model: str, flags: Flags = CLI_FLAGS) -> None:
    """A local model folder (with config.json) or something shaped like a hub id; else one line saying which."""
    path = Path(model).expanduser()
    if path.exists():
        if path.is_dir() and not (path / "config.json").exists():
            raise EmoreasonError(
                f"{flags.model} {model}: the folder has no config.json, so it is not a transformers model"
            )
        if path.is_file():
            raise EmoreasonError(f"{flags.model} {model} is a file; pass the model's folder (with config.json)")
    elif _HUB_ID.fullmatch(model) is None:
        raise EmoreasonError(
            f"{flags.model} {model}: no such folder; pass a local model folder or a hub id like org/name"
        )


def load_config(model: str, revision: str = "main", flags: Flags = CLI_FLAGS) -> Any:
    """The model's config, checked to be a vision-language (image-text-to-text) model. Checks the source first."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    check_model_source(model, flags)
    try:
        config = AutoConfig.from_pretrained(model, revision=revision)
    except (OSError, ValueError) as err:
        raise EmoreasonError(
            f"could not load the model config of {model!r} ({str(err).splitlines()[0]}); pass a local model folder, "
            f"or download it first (`hf download {model}`) while online"
        ) from err
    if config.model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        raise _not_a_vlm(model, config, flags)
    return config


def _not_a_vlm(model: str, config: Any, flags: Flags) -> EmoreasonError:
    return EmoreasonError(
        f"{flags.model} {model} is a {config.model_type!r} model, not a vision-language (image-text-to-text) model; "
        "pass a VLM such as Qwen2.5-VL, Qwen3-VL, SmolVLM or Gemma 3"
    )


# -- processor and model ---------------------------------------------------------------------------------------
def load_processor(model: str, config: Any | None = None, revision: str = "main", for_generation: bool = False) -> Any:
    """The model's multimodal processor, checked against ``config`` when given (tokenizer size, image token).

    ``for_generation``: left padding and a pad token (batched generation); training leaves the tokenizer as saved.
    """
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(model, revision=revision)
    except Exception as err:  # noqa: BLE001 - any failure here means the folder's processor files are unusable
        raise EmoreasonError(
            f"could not load the processor of {model} ({type(err).__name__}: {str(err).splitlines()[0]}); the "
            "folder needs the processor and tokenizer files saved with the model (processor.save_pretrained)"
        ) from err
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None or getattr(processor, "image_processor", None) is None:
        raise EmoreasonError(
            f"the processor in {model} is a {type(processor).__name__}, not a multimodal processor; save the "
            "model's image processor + tokenizer (its AutoProcessor) into the folder"
        )
    if config is not None:
        _check_processor_fits(model, processor, config)
    if for_generation:
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    return processor


def _check_processor_fits(model: str, processor: Any, config: Any) -> None:
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    tokenizer = processor.tokenizer
    expected = PROCESSOR_MAPPING_NAMES.get(config.model_type)
    vocab = getattr(config.get_text_config(), "vocab_size", None)
    problems = []
    if vocab and len(tokenizer) > vocab:
        problems.append(f"its tokenizer has {len(tokenizer)} tokens but the model only {vocab}")
    image_token_id = getattr(processor, "image_token_id", None)
    if image_token_id is not None and getattr(config, "image_token_id", None) not in (None, image_token_id):
        problems.append(f"its image token id is {image_token_id} but the model's is {config.image_token_id}")
    if expected and type(processor).__name__ != expected:
        if problems:
            problems.append(f"it is a {type(processor).__name__} where a {config.model_type} model uses {expected}")
        else:
            logger.warning("%s: %s with a %s model (usually %s)", model, type(processor).__name__, config.model_type,
                           expected)  # fmt: skip
    if problems:
        raise EmoreasonError(
            f"the processor in {model} does not match its model: {'; '.join(problems)}; save the processor that "
            "belongs to this model into the folder"
        )


def load_model(model: str, config: Any, dtype: Any, flags: Flags = CLI_FLAGS, **kwargs: Any) -> Any:
    """``AutoModelForImageTextToText.from_pretrained(model, dtype=dtype, **kwargs)`` with one-line errors.

    ``config`` is :func:`load_config`'s; ``kwargs``: ``revision``, ``attn_implementation``, ``quantization_config``,
    ``device_map``.
    """
    from transformers import AutoModelForImageTextToText
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # the "Loading weights" bar is noise in CLI output
    try:
        return AutoModelForImageTextToText.from_pretrained(model, dtype=dtype, **kwargs)
    except ValueError as err:
        if "Unrecognized configuration class" in str(err) or "model type" in str(err):
            raise _not_a_vlm(model, config, flags) from err
        raise EmoreasonError(f"could not load {flags.model} {model}: {str(err).splitlines()[0]}") from err
    except OSError as err:
        raise EmoreasonError(
            f"could not load the weights of {flags.model} {model}: {str(err).splitlines()[0]}"
        ) from err
    finally:
        if bars:
            hf_logging.enable_progress_bar()


# -- adapters --------------------------------------------------------------------------------------------------
def read_adapter_config(adapter: str, flags: Flags = CLI_FLAGS) -> dict[str, Any]:
    """The adapter folder's ``adapter_config.json``; a folder without one is one line."""
    file = Path(adapter).expanduser() / "adapter_config.json"
    if not file.is_file():
        raise EmoreasonError(f"{flags.adapter} {adapter}: no adapter_config.json there; pass a peft adapter folder")
    try:
        return json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise EmoreasonError(f"{flags.adapter} {adapter}: adapter_config.json is unreadable ({err})") from err


def check_adapter_fits(
    adapter: str, base: str, model_class: str | None, model_type: str | None, flags: Flags = CLI_FLAGS
) -> dict[str, Any]:
    """Refuse an adapter recorded as trained on another architecture than ``base``'s; returns its config.

    What peft recorded (the base's class) is compared first, then the model type of the base it was trained on
    (when that base is a local folder). Unknown on either side: no verdict here (the weights decide later).
    """
    adapter_config = read_adapter_config(adapter, flags)
    trained_on = adapter_config.get("base_model_name_or_path") or "?"
    advice = f"it was trained on {trained_on!r}; pass that base model as {flags.model}"
    trained_class = (adapter_config.get("auto_mapping") or {}).get("base_model_class")
    trained_type = _model_type_of(adapter_config.get("base_model_name_or_path") or "")
    fits = f"{flags.adapter} {adapter} does not fit {flags.model} {base}"
    if trained_class and model_class and trained_class != model_class:
        raise EmoreasonError(f"{fits}: the adapter is for a {trained_class}, the model is a {model_class}; {advice}")
    if trained_type and model_type and trained_type != model_type:
        raise EmoreasonError(
            f"{fits}: the adapter is for a {trained_type!r} model, the model is {model_type!r}; {advice}"
        )
    return adapter_config


def load_adapter(model: Any, adapter: str, base: str, trainable: bool = False, flags: Flags = CLI_FLAGS) -> Any:
    """Wrap ``model`` in the peft adapter; an adapter trained on another base model is an error, not a no-op."""
    from peft import PeftModel

    adapter_config = check_adapter_fits(adapter, base, type(model).__name__, model.config.model_type, flags)
    trained_on = adapter_config.get("base_model_name_or_path") or "?"
    advice = f"it was trained on {trained_on!r}; pass that base model as {flags.model}"
    fits = f"{flags.adapter} {adapter} does not fit {flags.model} {base}"
    path = Path(adapter).expanduser()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            wrapped = PeftModel.from_pretrained(model, str(path), is_trainable=trainable)
    except (RuntimeError, ValueError, KeyError) as err:
        raise EmoreasonError(f"{fits} ({str(err).splitlines()[0][:200]}); {advice}") from err
    missing = any("missing adapter keys" in str(w.message) for w in caught)
    saved, placed = _adapter_tensor_count(path), sum("lora_" in key for key in wrapped.state_dict())
    if missing or (saved is not None and saved != placed):
        raise EmoreasonError(
            f"{fits}: its weights name layers the model does not have "
            f"({saved if saved is not None else '?'} adapter tensors, {placed} LoRA slots in the model); {advice}"
        )
    for w in caught:
        logger.debug("peft: %s", w.message)
    if trained_on not in ("?", base) and Path(trained_on).expanduser().resolve() != Path(base).expanduser().resolve():
        logger.warning("%s %s was trained on %s, not on %s %s; its weights fit, so it is used", flags.adapter, adapter,
                       trained_on, flags.model, base)  # fmt: skip
    return wrapped


def local_model_config(name: str) -> dict[str, Any]:
    """A local model folder's config.json as a dict; {} for a hub id or an unreadable folder."""
    config = Path(name).expanduser() / "config.json"
    if config.is_file():
        try:
            return json.loads(config.read_text())
        except (OSError, ValueError):
            return {}
    return {}


def _model_type_of(name: str) -> str | None:
    return local_model_config(name).get("model_type") if name else None


def _adapter_tensor_count(path: Path) -> int | None:
    """How many LoRA tensors the adapter file holds (keys only, no weights read); None for non-safetensors files."""
    file = path / "adapter_model.safetensors"
    if not file.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as handle:
        return sum("lora_" in key for key in handle.keys())  # noqa: SIM118 - safe_open has no __iter__


# -- the inference composition ---------------------------------------------------------------------------------
def load_vlm(
    model: str, adapter: str | None = None, device: str | None = None, dtype: str | Any | None = None
) -> tuple[Any, Any, str]:
    """Load (model in eval mode on its device, processor with left padding, device). Raises EmoreasonError."""
    model = str(model)
    check_model_source(model)
    device = pick_device(device)
    torch_dtype = pick_dtype(device, dtype)
    vlm = load_model(model, load_config(model), torch_dtype)
    processor = load_processor(model, vlm.config, for_generation=True)
    if adapter:
        vlm = load_adapter(vlm, str(adapter), model)
    return vlm.to(device).eval(), processor, device
