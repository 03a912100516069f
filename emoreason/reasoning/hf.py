"""The ``hf`` backend: any transformers image-text-to-text model (+ optional peft adapter), batched generation.

The model is given as a local folder or a hub id, passed to ``from_pretrained`` unchanged (so it works from the
user's HF cache, or online where the user is online). Prompts come from :mod:`emoreason.reasoning.prompts` and the
raw text goes through the one parser (``base.to_reasoning``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.reasoning.base import to_reasoning
from emoreason.reasoning.images import as_pil
from emoreason.reasoning.prompts import build_messages, message_images
from emoreason.schema import Evidence, Reasoning

logger = logging.getLogger(__name__)

STOP = "</answer>"
_DTYPES = ("auto", "bfloat16", "float16", "float32")


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
        if dtype not in _DTYPES:
            raise EmoreasonError(f"unknown dtype {dtype!r}; choose one of: {', '.join(_DTYPES)}")
        return getattr(torch, dtype)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


# A hub id is ``name`` or ``org/name``; dots are common in them (Qwen/Qwen2.5-VL-3B-Instruct), so no suffix test.
_HUB_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)?")


def _looks_like_path(name: str) -> bool:
    return _HUB_ID.fullmatch(name) is None


def _check_model_source(model: str) -> None:
    path = Path(model).expanduser()
    if path.exists():
        if path.is_dir() and not (path / "config.json").exists():
            raise EmoreasonError(f"--model {model}: the folder has no config.json, so it is not a transformers model")
        if path.is_file():
            raise EmoreasonError(f"--model {model} is a file; pass the model's folder (with config.json)")
    elif _looks_like_path(model):
        raise EmoreasonError(f"--model {model}: no such folder; pass a local model folder or a hub id like org/name")


def _load_model(model: str, dtype: Any) -> Any:
    from transformers import AutoConfig, AutoModelForImageTextToText

    try:
        config = AutoConfig.from_pretrained(model)
    except (OSError, ValueError) as err:
        raise EmoreasonError(
            f"could not load the model config of {model!r} ({str(err).splitlines()[0]}); pass a local model folder, "
            f"or download it first (`hf download {model}`) while online"
        ) from err
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # the "Loading weights" bar is noise in CLI output
    try:
        return AutoModelForImageTextToText.from_pretrained(model, dtype=dtype)
    except ValueError as err:
        if "Unrecognized configuration class" in str(err) or "model type" in str(err):
            raise EmoreasonError(
                f"--model {model} is a {config.model_type!r} model, not a vision-language (image-text-to-text) model; "
                "pass a VLM such as Qwen2.5-VL, Qwen3-VL, SmolVLM or Gemma 3"
            ) from err
        raise EmoreasonError(f"could not load --model {model}: {str(err).splitlines()[0]}") from err
    except OSError as err:
        raise EmoreasonError(f"could not load the weights of --model {model}: {str(err).splitlines()[0]}") from err
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _load_processor(model: str, config: Any) -> Any:
    from transformers import AutoProcessor
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    try:
        processor = AutoProcessor.from_pretrained(model)
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
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return processor


def _load_adapter(model: Any, adapter: str, base: str) -> Any:
    """Wrap ``model`` in the peft adapter; an adapter trained on another base model is an error, not a no-op."""
    import json
    import warnings

    from peft import PeftModel

    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").exists():
        raise EmoreasonError(f"--adapter {adapter}: no adapter_config.json there; pass a peft adapter folder")
    adapter_config = json.loads((path / "adapter_config.json").read_text())
    trained_on = adapter_config.get("base_model_name_or_path") or "?"
    advice = f"it was trained on {trained_on!r}; pass that base model as --model"
    trained_class = (adapter_config.get("auto_mapping") or {}).get("base_model_class")
    trained_type = _model_type_of(trained_on)
    if trained_class and trained_class != type(model).__name__:
        raise EmoreasonError(
            f"--adapter {adapter} does not fit --model {base}: the adapter is for a {trained_class}, the model is a "
            f"{type(model).__name__}; {advice}"
        )
    if trained_type and trained_type != model.config.model_type:
        raise EmoreasonError(
            f"--adapter {adapter} does not fit --model {base}: the adapter is for a {trained_type!r} model, the model "
            f"is {model.config.model_type!r}; {advice}"
        )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            wrapped = PeftModel.from_pretrained(model, str(path), is_trainable=False)
    except (RuntimeError, ValueError, KeyError) as err:
        raise EmoreasonError(
            f"--adapter {adapter} does not fit --model {base} ({str(err).splitlines()[0][:200]}); {advice}"
        ) from err
    missing = any("missing adapter keys" in str(w.message) for w in caught)
    saved, placed = _adapter_tensor_count(path), sum("lora_" in key for key in wrapped.state_dict())
    if missing or (saved is not None and saved != placed):
        raise EmoreasonError(
            f"--adapter {adapter} does not fit --model {base}: its weights name layers the model does not have "
            f"({saved if saved is not None else '?'} adapter tensors, {placed} LoRA slots in the model); {advice}"
        )
    for w in caught:
        logger.debug("peft: %s", w.message)
    if trained_on not in ("?", base) and Path(trained_on).expanduser().resolve() != Path(base).expanduser().resolve():
        logger.warning("--adapter %s was trained on %s, not on --model %s; its weights fit, so it is used", adapter,
                       trained_on, base)  # fmt: skip
    return wrapped


def _model_type_of(name: str) -> str | None:
    """The ``model_type`` in a local model folder's config.json; None for a hub id or an unreadable folder."""
    import json

    config = Path(name).expanduser() / "config.json"
    if config.is_file():
        try:
            return json.loads(config.read_text()).get("model_type")
        except (OSError, ValueError):
            return None
    return None


def _adapter_tensor_count(path: Path) -> int | None:
    """How many LoRA tensors the adapter file holds (keys only, no weights read); None for non-safetensors files."""
    file = path / "adapter_model.safetensors"
    if not file.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as handle:
        return sum("lora_" in key for key in handle.keys())  # noqa: SIM118 - safe_open has no __iter__


def load_vlm(
    model: str, adapter: str | None = None, device: str | None = None, dtype: str | Any | None = None
) -> tuple[Any, Any, str]:
    """Load (model in eval mode on its device, processor with left padding, device). Raises EmoreasonError."""
    model = str(model)
    _check_model_source(model)
    device = pick_device(device)
    torch_dtype = pick_dtype(device, dtype)
    vlm = _load_model(model, torch_dtype)
    processor = _load_processor(model, vlm.config)
    if adapter:
        vlm = _load_adapter(vlm, str(adapter), model)
    return vlm.to(device).eval(), processor, device


class HFReasoner:
    """Reason with a transformers VLM. Implements ``Reasoner`` and ``StreamingReasoner``; also ``generate_texts``."""

    name = "hf"
    needs_images = True

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        device: str | None = None,
        dtype: str | Any | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_new_tokens: int = 512,
        batch_size: int = 8,
        label_set: str | None = None,
        system_prompt: str | None = None,
        **_: Any,
    ):
        if max_new_tokens < 1 or batch_size < 1 or temperature < 0 or not 0 < top_p <= 1:
            raise EmoreasonError("need max_new_tokens >= 1, batch_size >= 1, temperature >= 0 and 0 < top_p <= 1")
        self.model_name, self.adapter = str(model), adapter
        self.model, self.processor, self.device = load_vlm(self.model_name, adapter, device, dtype)
        self.temperature, self.top_p = temperature, top_p
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.label_set = label_set  # None: each Evidence's own label_set
        self.system_prompt = system_prompt

    # -- the Reasoner protocol -------------------------------------------------------------------------------
    def reason(self, evidence: list[Evidence]) -> list[Reasoning]:
        """One Reasoning per Evidence, generated ``batch_size`` at a time."""
        messages = [build_messages(ev, system=self.system_prompt, label_set=self.label_set) for ev in evidence]  # type: ignore[arg-type]
        texts = self.generate_texts(messages, [list(ev.images) for ev in evidence])
        return [
            to_reasoning(text, self.name, self.label_set or ev.label_set)
            for text, ev in zip(texts, evidence, strict=True)
        ]

    # -- generation ------------------------------------------------------------------------------------------
    def _generation_kwargs(self, **overrides: Any) -> dict[str, Any]:
        temperature = overrides.pop("temperature", self.temperature)
        top_p = overrides.pop("top_p", self.top_p)
        do_sample = overrides.pop("do_sample", temperature > 0)
        kwargs: dict[str, Any] = {
            "max_new_tokens": overrides.pop("max_new_tokens", self.max_new_tokens),
            "do_sample": do_sample,
            "stop_strings": [STOP],
            "tokenizer": self.processor.tokenizer,
        }
        if do_sample:
            kwargs.update(temperature=temperature if temperature > 0 else 1.0, top_p=top_p)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        kwargs.update(overrides)
        return kwargs

    def _inputs(self, messages_batch: list[list[dict[str, Any]]], images_batch: list[list[Any]]) -> Any:
        texts = [
            self.processor.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages_batch
        ]
        images = [[as_pil(img) for img in imgs] for imgs in images_batch]
        kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
        if any(images):
            kwargs["images"] = images
        return self.processor(**kwargs).to(self.device)

    def generate_texts(
        self, messages_batch: list[list[dict[str, Any]]], images_batch: list[list[Any]], **overrides: Any
    ) -> list[str]:
        """Generate one reply per conversation (batched, left-padded), cut after the first ``</answer>``.

        ``overrides``: ``temperature``, ``top_p``, ``max_new_tokens``, ``do_sample`` or any ``generate`` kwarg.
        """
        import torch

        if len(messages_batch) != len(images_batch):
            raise EmoreasonError(f"{len(messages_batch)} conversations but {len(images_batch)} image lists")
        for messages, images in zip(messages_batch, images_batch, strict=True):
            if message_images(messages) != len(images):
                raise EmoreasonError(
                    f"a conversation has {message_images(messages)} image parts but {len(images)} images"
                )
        out: list[str] = [""] * len(messages_batch)
        # Samples with the same number of images share a batch: every processor accepts that shape.
        groups: dict[int, list[int]] = {}
        for i, images in enumerate(images_batch):
            groups.setdefault(len(images), []).append(i)
        for indices in groups.values():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                inputs = self._inputs([messages_batch[i] for i in chunk], [images_batch[i] for i in chunk])
                with torch.inference_mode():
                    ids = self.model.generate(**inputs, **self._generation_kwargs(**overrides))
                new = ids[:, inputs["input_ids"].shape[1] :]
                for i, text in zip(chunk, self.processor.batch_decode(new, skip_special_tokens=True), strict=True):
                    out[i] = cut_at_stop(text)
        return out

    def stream_chat(self, messages: list[dict[str, Any]], images: list[Any], **overrides: Any) -> Iterator[str]:
        """Stream one reply to a chat (text pieces as they are generated)."""
        from transformers import TextIteratorStreamer

        if message_images(messages) != len(images):
            raise EmoreasonError(f"the chat has {message_images(messages)} image parts but {len(images)} images")
        inputs = self._inputs([messages], [images])
        streamer = TextIteratorStreamer(self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = {**inputs, **self._generation_kwargs(**overrides), "streamer": streamer}
        errors: list[BaseException] = []

        def run() -> None:
            import torch

            try:
                with torch.inference_mode():
                    self.model.generate(**kwargs)
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread below
                errors.append(err)
                streamer.on_finalized_text("", stream_end=True)

        thread = threading.Thread(target=run, name="emoreason-hf-stream", daemon=True)
        thread.start()
        seen = ""
        for piece in streamer:
            if STOP in seen + piece:
                yield (seen + piece)[: (seen + piece).index(STOP) + len(STOP)][len(seen) :]
                break
            seen += piece
            yield piece
        thread.join()
        if errors:
            raise EmoreasonError(f"generation failed: {type(errors[0]).__name__}: {errors[0]}") from errors[0]


def cut_at_stop(text: str, stop: str = STOP) -> str:
    """Text up to and including the first stop string (batch members keep generating after theirs)."""
    index = text.find(stop)
    return text if index < 0 else text[: index + len(stop)]
