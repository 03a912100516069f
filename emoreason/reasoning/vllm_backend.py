"""The ``vllm`` backend: vLLM's offline engine, for GPU batch throughput (``pip install 'emoreason[gpu]'``).

The whole batch goes to ``LLM.chat`` in one call (vLLM schedules it with continuous batching). Messages come from
the one prompt source and go through the ``openai`` backend's wire conversion, so images travel as data URLs
exactly as they do to a vLLM server; an optional LoRA adapter is applied per request. The model source, the
adapter's fit and the dtype rule are :mod:`emoreason.reasoning.loading`'s, as for the ``hf`` backend. vLLM is
imported only when a ``VLLMReasoner`` is built, and a missing GPU or package is one clear error.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.reasoning.base import reason_with_texts
from emoreason.reasoning.loading import check_adapter_fits, check_model_source, local_model_config, pick_dtype
from emoreason.reasoning.openai_backend import STOP, to_wire
from emoreason.schema import Evidence, Reasoning

logger = logging.getLogger(__name__)


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as err:
        raise EmoreasonError(
            "--backend vllm needs vLLM and a CUDA GPU: pip install 'emoreason[gpu]' (or use --backend hf, or "
            "--backend openai against a running `vllm serve`)"
        ) from err
    return vllm


class VLLMReasoner:
    """Reason with a local vLLM engine: ``Reasoner`` and ``generate_texts`` (the data builders' teacher API)."""

    name = "vllm"
    needs_images = True

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        dtype: str | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_new_tokens: int = 512,
        label_set: str | None = None,
        system_prompt: str | None = None,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.85,
        max_model_len: int | None = None,
        max_images: int = 4,
        max_lora_rank: int = 64,
        **_: Any,
    ):
        vllm = _import_vllm()
        model = str(model)
        check_model_source(model)
        if adapter is not None:
            base = local_model_config(model)  # a hub id: vLLM fetches it; the adapter's weights are checked there
            architectures = base.get("architectures") or [None]
            check_adapter_fits(str(adapter), model, architectures[0], base.get("model_type"))
        self.temperature, self.top_p, self.max_new_tokens = temperature, top_p, max_new_tokens
        self.label_set, self.system_prompt = label_set, system_prompt
        engine: dict[str, Any] = {
            "model": model,
            "dtype": str(pick_dtype("cuda", dtype)).removeprefix("torch."),
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "limit_mm_per_prompt": {"image": max_images},
        }
        if max_model_len:
            engine["max_model_len"] = max_model_len
        if adapter is not None:
            engine.update(enable_lora=True, max_lora_rank=max_lora_rank)
        try:
            self.llm = vllm.LLM(**engine)
        except Exception as err:  # noqa: BLE001 - engine start-up failures (no GPU, bad path, OOM) are one line
            raise EmoreasonError(f"vLLM could not start {model!r}: {err}") from err
        self.lora = None
        if adapter is not None:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest("adapter", 1, str(Path(adapter).resolve()))

    def _sampling(self, **overrides: Any) -> Any:
        from vllm import SamplingParams

        return SamplingParams(
            temperature=overrides.get("temperature", self.temperature),
            top_p=overrides.get("top_p", self.top_p),
            max_tokens=overrides.get("max_new_tokens", self.max_new_tokens),
            stop=[STOP],
            include_stop_str_in_output=True,
        )

    def generate_texts(
        self, messages_batch: list[list[dict[str, Any]]], images_batch: list[list[Any]], **overrides: Any
    ) -> list[str]:
        """One reply per conversation, in order, from a single batched ``LLM.chat`` call."""
        conversations = [to_wire(m, imgs) for m, imgs in zip(messages_batch, images_batch, strict=True)]
        if not conversations:
            return []
        outputs = self.llm.chat(conversations, self._sampling(**overrides), lora_request=self.lora, use_tqdm=False)
        return [out.outputs[0].text if out.outputs else "" for out in outputs]

    def reason(self, evidence: list[Evidence]) -> list[Reasoning]:
        """One Reasoning per Evidence, the batch in one engine call."""
        return reason_with_texts(self, evidence)
