"""Training views of a build-data dataset, derived from the one row format (docs/architecture.md).

- SFT view: ``messages`` = the user turn from the ONE prompt source (``prompts.build_messages``) + an assistant
  turn whose text is the row's ``cot``; ``images`` = the row's image paths.
- GRPO view: ``prompt`` = the same user turn; ``images``; gold columns ``label``, ``labels``, ``aus``,
  ``transcript`` for the rewards.

Image slots in the messages are placeholders (``{"type": "image"}``); TRL fills them from the ``images`` column,
so views stay plain Arrow data. Both take a ``datasets.Dataset`` (or a list of row dicts).
"""

from __future__ import annotations

from typing import Any

from emoreason.facs import au_text, coerce_aus
from emoreason.schema import Evidence

GOLD_COLUMNS = ("label", "labels", "aus", "transcript")


def row_evidence(row: dict[str, Any], label_set: str = "compound", load_images: bool = False) -> Evidence:
    """A dataset row as the Evidence a prompt is rendered from (images as paths, or opened when ``load_images``)."""
    aus = coerce_aus(row.get("aus"))
    images: list[Any] = list(row.get("images") or [])
    if load_images:
        from PIL import Image

        images = [Image.open(p).convert("RGB") if isinstance(p, str) else p for p in images]
    meta = row.get("meta") or {}
    return Evidence(
        id=str(row.get("id", "")),
        images=images,
        aus=aus,
        au_text=au_text(aus),
        transcript=row.get("transcript") or "",
        prosody=row.get("prosody") or "",
        quality=list(meta.get("quality") or []),
        quality_text=str(meta.get("quality_text") or ""),
        uncertain_aus=list(meta.get("uncertain_aus") or []),
        label_set=label_set,
        meta={"source": meta.get("source")},
    )


def _plain(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with image payloads replaced by placeholders and text parts as ``{"type": "text", "text": ...}``."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts = [{"type": "text", "text": content}]
        else:
            parts = [
                {"type": "image", "text": None} if part.get("type") == "image" else
                {"type": "text", "text": str(part.get("text", ""))}
                for part in content or []
            ]  # fmt: skip
        out.append({"role": message["role"], "content": parts})
    return out


def user_turn(row: dict[str, Any], label_set: str = "compound") -> list[dict[str, Any]]:
    """The prompt messages for one row, from the one prompt source."""
    from emoreason.reasoning.prompts import build_messages

    return _plain(build_messages(row_evidence(row, label_set)))


def _sft_row(row: dict[str, Any], label_set: str) -> dict[str, Any]:
    assistant = {"role": "assistant", "content": [{"type": "text", "text": row["cot"]}]}
    return {"messages": user_turn(row, label_set) + [assistant], "images": list(row.get("images") or [])}


def _grpo_row(row: dict[str, Any], label_set: str) -> dict[str, Any]:
    return {"prompt": user_turn(row, label_set), "images": list(row.get("images") or [])}


def _apply(rows: Any, fn: Any, keep: tuple[str, ...], label_set: str) -> Any:
    from datasets import Dataset

    if not isinstance(rows, Dataset):
        return [{**{k: r.get(k) for k in keep}, **fn(r, label_set)} for r in rows]
    drop = [c for c in rows.column_names if c not in keep and c != "images"]
    return rows.map(lambda r: fn(r, label_set), remove_columns=drop)


def sft_view(rows: Any, label_set: str = "compound") -> Any:
    """Rows -> ``{"messages": [user..., assistant(cot)], "images": [...]}``."""
    return _apply(rows, _sft_row, (), label_set)


def grpo_view(rows: Any, label_set: str = "compound") -> Any:
    """Rows -> ``{"prompt": [user...], "images": [...], "label", "labels", "aus", "transcript"}``."""
    return _apply(rows, _grpo_row, GOLD_COLUMNS, label_set)
