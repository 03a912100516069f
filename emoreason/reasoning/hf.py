"""The ``hf`` backend: any transformers image-text-to-text model (+ optional peft adapter), batched generation.

The model, its processor and the adapter are loaded and checked by :mod:`emoreason.reasoning.loading` (a local
folder or a hub id, passed to ``from_pretrained`` unchanged; the one dtype rule). Prompts come from
:mod:`emoreason.reasoning.prompts` and the raw text goes through the one parser (``base.to_reasoning``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.reasoning.base import to_reasoning
from emoreason.reasoning.images import as_pil
from emoreason.reasoning.loading import load_vlm
from emoreason.reasoning.openai_backend import STOP
from emoreason.reasoning.prompts import build_messages, message_images
from emoreason.schema import Evidence, Reasoning

logger = logging.getLogger(__name__)


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
