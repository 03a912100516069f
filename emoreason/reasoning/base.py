"""The Reasoner protocol and the backend registry.

Every backend takes a batch of :class:`~emoreason.schema.Evidence` and returns one
:class:`~emoreason.schema.Reasoning` each, with its raw text run through the one parser.
Backends are looked up by name in ``BACKENDS``; each entry names a module and a class so that
``emoreason --help`` never imports torch or an HTTP client.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from emoreason.errors import EmoreasonError
from emoreason.reasoning.parser import parse_output
from emoreason.schema import Evidence, Reasoning

logger = logging.getLogger(__name__)


@runtime_checkable
class Reasoner(Protocol):
    """One reasoning backend. ``reason`` is batched: one Reasoning per Evidence, same order."""

    name: str

    def reason(self, evidence: list[Evidence]) -> list[Reasoning]: ...


@runtime_checkable
class StreamingReasoner(Reasoner, Protocol):
    """A backend that can also stream one reply (used by the chat REPL)."""

    def stream_chat(self, messages: list[dict[str, Any]], images: list[Any]) -> Iterator[str]: ...


# name -> "module:Class". The class is built with the keyword settings given to get_reasoner.
BACKENDS: dict[str, str] = {
    "rules": "emoreason.reasoning.rules:RuleReasoner",
    "hf": "emoreason.reasoning.hf:HFReasoner",
    "openai": "emoreason.reasoning.openai_backend:OpenAIReasoner",
    "vllm": "emoreason.reasoning.vllm_backend:VLLMReasoner",
}


def needs_images(reasoner: Any) -> bool:
    """Whether a backend looks at face crops or frames. The rule engine reads only AUs, so images are skipped for it
    (a backend says so with a ``needs_images`` attribute; without one, every backend but "rules" gets images)."""
    return bool(getattr(reasoner, "needs_images", getattr(reasoner, "name", "") != "rules"))


def get_reasoner(name: str, **settings: Any) -> Reasoner:
    """Build a backend by name. Unknown names raise EmoreasonError listing the valid ones."""
    if name not in BACKENDS:
        raise EmoreasonError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    module_name, class_name = BACKENDS[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**settings)


def to_reasoning(
    raw: str,
    backend: str,
    label_set: str = "compound",
    scores: dict[str, float] | None = None,
    truncated: bool | None = None,
) -> Reasoning:
    """Wrap a backend's raw text as a Reasoning, via the one parser."""
    parsed = parse_output(raw, label_set)  # type: ignore[arg-type]
    return Reasoning(
        raw=raw,
        label=parsed.label,
        labels=parsed.labels,
        scores=scores or {},
        aus_cited=parsed.aus,
        format_ok=parsed.format_ok,
        truncated=parsed.truncated if truncated is None else truncated,
        backend=backend,
        sections=parsed.sections,
    )


def build_reasoner(
    backend: str = "rules",
    model: str | None = None,
    adapter: str | None = None,
    base_url: str | None = None,
    **settings: Any,
) -> Reasoner:
    """Build a backend from CLI-style options; options left as None are not passed (each backend has defaults).

    hf: ``model`` (path or hub id), ``adapter``; openai: ``model`` (served name), ``base_url``; rules: neither.
    """
    if backend in ("hf", "openai", "vllm") and not model:
        raise EmoreasonError(f"--backend {backend} needs --model (a local path, a hub id or a served model name)")
    if backend == "openai" and not base_url:
        raise EmoreasonError("--backend openai needs --base-url, e.g. http://localhost:8000/v1")
    options = {"model": model, "adapter": adapter, "base_url": base_url, **settings}
    return get_reasoner(backend, **{k: v for k, v in options.items() if v is not None})


def reason_with_texts(backend: Any, evidence: list[Evidence]) -> list[Reasoning]:
    """``Reasoner.reason`` for a backend that has ``generate_texts``: prompts from the one source, the one parser."""
    from emoreason.reasoning.prompts import build_messages

    label_set = getattr(backend, "label_set", None)
    system = getattr(backend, "system_prompt", None)
    messages = [build_messages(ev, system=system, label_set=label_set) for ev in evidence]  # type: ignore[arg-type]
    texts = backend.generate_texts(messages, [list(ev.images) for ev in evidence])
    return [
        to_reasoning(text, backend.name, label_set or ev.label_set) for text, ev in zip(texts, evidence, strict=True)
    ]


def reason_each(reasoner: Reasoner, evidence: list[Evidence], batch_size: int = 16) -> list[Reasoning | Exception]:
    """The one batched-reasoning loop (images, video windows, eval rows): ``reasoner.reason`` on batches of
    ``batch_size``, one answer or one exception per Evidence, in order.

    A batch that fails (or returns the wrong number of answers) is retried item by item, so one bad item does not
    sink its batch; an item that still fails gets its exception in its place. ``KeyboardInterrupt`` is not caught.
    """
    out: list[Reasoning | Exception] = []
    for start in range(0, len(evidence), max(1, batch_size)):
        batch = evidence[start : start + max(1, batch_size)]
        try:
            out.extend(_checked(reasoner, batch))
            continue
        except Exception as err:  # noqa: BLE001 - retried item by item below; each failure is returned, not raised
            if len(batch) == 1:
                out.append(err)
                continue
            logger.warning("a batch of %d failed (%s); retrying its items one by one", len(batch), err)
        for ev in batch:
            try:
                out.extend(_checked(reasoner, [ev]))
            except Exception as err:  # noqa: BLE001 - returned in the item's place
                out.append(err)
    return out


def _checked(reasoner: Reasoner, batch: list[Evidence]) -> list[Reasoning]:
    answers = reasoner.reason(batch)
    if len(answers) != len(batch):
        name = getattr(reasoner, "name", "reasoning")
        raise EmoreasonError(f"the {name} backend returned {len(answers)} answers for {len(batch)} inputs")
    return list(answers)
