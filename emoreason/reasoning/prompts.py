"""The ONE prompt source: system prompts and the user / teacher templates, rendered from ``prompts/`` package data.

Every backend (hf, openai, vllm), the data builders, training views and the chat REPL build their messages here,
so a prompt change is one edit to a versioned template file. Messages use the Hugging Face chat format, with one
``{"type": "image"}`` placeholder per face crop; the images themselves travel separately (``evidence.images``)::

    [{"role": "system", "content": [{"type": "text", "text": ...}]},
     {"role": "user", "content": [{"type": "image"}, ..., {"type": "text", "text": ...}]}]
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from emoreason import facs
from emoreason.errors import EmoreasonError
from emoreason.labels import BASIC_LABELS, COMPOUND_LABELS, LABEL_SETS, LabelSet
from emoreason.modalities import MODALITIES, present_modalities
from emoreason.schema import Evidence

PROMPT_VERSION = "v1"
_ANSWER_HINT = {"basic": "one label", "compound": "one label", "open": "label, or label, label"}
# Tags that mean something to the parser; inside untrusted text they are defused so they can't fake an answer.
_TAG = re.compile(r"<\s*(/?)\s*(think|answer)\s*>", re.I)


@dataclass(frozen=True)
class Teacher:
    """What the teacher prompt adds to a user turn: the ground truth and feedback on a rejected attempt."""

    gold_label: str
    gold_aus: dict[str, float] | None = None
    feedback: str | None = None


@functools.cache
def _read(name: str) -> str:
    try:
        return resources.files("emoreason.prompts").joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise EmoreasonError(
            f"prompt template {name} is missing from the installed package; reinstall emoreason"
        ) from err


@functools.cache
def _template(name: str) -> Any:
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
    return env.from_string(_read(name))


def system_prompt(version: str = PROMPT_VERSION) -> str:
    """The system prompt for one-shot reasoning (analyze, caption, data, training)."""
    return _read(f"system_{version}.txt").strip()


def chat_system_prompt(version: str = PROMPT_VERSION) -> str:
    """The system prompt for the multi-turn chat REPL."""
    return _read(f"chat_system_{version}.txt").strip()


def quote_untrusted(text: str) -> str:
    """Make transcript text safe to place inside the prompt's triple-quoted block: no closing quotes, no tags."""
    text = text.replace('"""', '"\u200b"\u200b"')
    return _TAG.sub(lambda m: f"({m.group(1)}{m.group(2).lower()})", text).strip()


def _au_text(evidence: Evidence) -> str:
    """The AU text, followed by the face's reading-quality hedges (turned, small, eyes closed...) when it has any."""
    text = evidence.au_text.strip() or facs.au_text(evidence.aus, uncertain=evidence.uncertain_aus)
    if evidence.expression:
        from emoreason.reasoning.rules_text import expression_text

        text = f"{text.rstrip('.')}. Face expression model (probabilities): {expression_text(evidence.expression)}"
    if evidence.quality_text.strip():
        text = f"{text.rstrip('.')}. Reading quality: {evidence.quality_text.strip()}"
    return text


def _evidence_fields(evidence: Evidence) -> dict[str, Any]:
    """What every template shows of an Evidence: image count, time span, AU text, quoted transcript, prosody, and
    which modalities (face, speech, prosody) are present."""
    present = present_modalities(evidence)
    return {
        "n_images": len(evidence.images),
        "start": evidence.start,
        "end": evidence.end,
        "au_text": _au_text(evidence),
        "transcript": quote_untrusted(evidence.transcript or ""),
        "prosody": (evidence.prosody or "").strip(),
        "modalities": present,
        "missing_modalities": [m for m in MODALITIES if m not in present],
    }


def _label_set(evidence: Evidence, label_set: str | None) -> str:
    chosen = label_set or evidence.label_set or "compound"
    if chosen not in LABEL_SETS:
        raise EmoreasonError(f"unknown label set {chosen!r}; choose one of: {', '.join(LABEL_SETS)}")
    return chosen


def render_user(evidence: Evidence, label_set: LabelSet | None = None, version: str = PROMPT_VERSION) -> str:
    """The user turn's text for one Evidence (images are separate ``{"type": "image"}`` parts before it)."""
    chosen = _label_set(evidence, label_set)
    return (
        _template(f"user_{version}.jinja")
        .render(
            **_evidence_fields(evidence),
            label_set=chosen,
            basic_labels=list(BASIC_LABELS),
            compound_labels=list(COMPOUND_LABELS),
            answer_hint=_ANSWER_HINT[chosen],
        )
        .strip()
    )


def teacher_text(
    evidence: Evidence,
    gold_label: str,
    gold_aus: dict[str, float] | None = None,
    feedback: str | None = None,
    label_set: LabelSet | None = None,
    version: str = PROMPT_VERSION,
) -> str:
    """The teacher user turn's text: the user prompt plus the ground-truth label, AUs and optional feedback."""
    if not gold_label or not str(gold_label).strip():
        raise EmoreasonError("the teacher prompt needs a gold label; rows without a label can't use teacher mode")
    gold_au_text = facs.au_text(facs.coerce_aus(gold_aus)) if gold_aus else ""
    return (
        _template(f"teacher_{version}.jinja")
        .render(
            user_text=render_user(evidence, label_set, version),
            gold_label=str(gold_label).strip(),
            gold_au_text=gold_au_text if facs.active_aus(facs.coerce_aus(gold_aus or {})) else "",
            feedback=(feedback or "").strip(),
        )
        .strip()
    )


def render_chat_evidence(evidence: Evidence, source: str, version: str = PROMPT_VERSION) -> str:
    """The text the chat REPL adds after an attached face's crop(s): its AUs, transcript and prosody."""
    return _template(f"chat_evidence_{version}.jinja").render(source=source, **_evidence_fields(evidence)).strip()


def build_messages(
    evidence: Evidence,
    teacher: Teacher | None = None,
    system: str | None = None,
    label_set: LabelSet | None = None,
) -> list[dict[str, Any]]:
    """System + user messages for one Evidence in the HF chat format; ``teacher`` switches to the teacher prompt."""
    if teacher is None:
        text = render_user(evidence, label_set)
    else:
        text = teacher_text(evidence, teacher.gold_label, teacher.gold_aus, teacher.feedback, label_set)
    content: list[dict[str, Any]] = [{"type": "image"} for _ in evidence.images]
    content.append({"type": "text", "text": text})
    return [
        {"role": "system", "content": [{"type": "text", "text": system or system_prompt()}]},
        {"role": "user", "content": content},
    ]


def render_teacher(
    evidence: Evidence,
    gold_label: str,
    gold_aus: dict[str, float] | None = None,
    feedback: str | None = None,
    label_set: LabelSet | None = None,
) -> list[dict[str, Any]]:
    """Teacher-mode messages (for the data builders): ``build_messages`` with the ground truth shown.

    Returns messages, not a string, so they go straight to ``generate_texts``; the text alone is
    :func:`teacher_text`.
    """
    return build_messages(evidence, Teacher(gold_label, gold_aus, feedback), label_set=label_set)


def message_images(messages: list[dict[str, Any]]) -> int:
    """How many image parts the messages hold (to check them against the images passed alongside)."""
    return sum(
        1
        for message in messages
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") in ("image", "image_url")
    )


def text_of(message: dict[str, Any]) -> str:
    """The concatenated text parts of one message (content may be a string or a list of parts)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text") or "") for p in content or [] if isinstance(p, dict) and p.get("type") == "text")
