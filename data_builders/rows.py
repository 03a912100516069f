"""A build-data row as the Evidence a prompt is rendered from: the one reading of the row format
(docs/architecture.md), shared by training's views (``emoreason.train.data``), eval and the synthesis loop.
"""

from __future__ import annotations

from typing import Any

from emoreason.facs import au_text, coerce_aus
from emoreason.schema import Evidence

GOLD_COLUMNS = ("label", "labels", "aus", "transcript")  # what the GRPO view keeps for the rewards


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
        expression=dict(meta.get("expression") or {}),
        label_set=label_set,
        meta={"source": meta.get("source")},
    )
