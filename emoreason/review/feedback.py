"""Corrections people make in chat and on the API: "that answer was wrong, it is X".

Each one is recorded the way the /review page records one: the analysis becomes a row of a feedback folder
(``rows.jsonl`` plus the face crop under ``images/``, in the row format, its ``cot`` the answer that was given) and
the correction is a ``correct`` decision in the store, by the person who made it. ``emoreason review export`` on
the folder then writes the corrected rows and the preference pairs (the CoT for the right label preferred over the
answer given), as for a dataset.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from emoreason.review.rows import new_feedback_folder, padded_box
from emoreason.review.store import ReviewStore, check_correction
from emoreason.schema import Evidence


def default_feedback_dir() -> Path:
    """``$XDG_STATE_HOME/emoreason/feedback`` (``~/.local/state/emoreason/feedback``): the chat REPL's folder."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "emoreason" / "feedback"


def open_feedback(folder: str | Path, label_set: str = "compound", **caps: Any) -> ReviewStore:
    """The store of a feedback folder (made on first use)."""
    return ReviewStore(new_feedback_folder(folder), label_set, **caps)


def analysis_row(evidence: Evidence, answer: str, answer_label: str | None, via: str, source: str) -> dict[str, Any]:
    """A row (the row format) of one analysed face, its first image saved beside the rows; ``cot`` is the answer."""
    from emoreason.data_builders.support import row_support

    rid = f"{via}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(4)}"
    row: dict[str, Any] = {
        "id": rid,
        "images": [],
        "video": "",
        "frames": [],
        "aus": dict(evidence.aus),
        "transcript": evidence.transcript,
        "prosody": evidence.prosody,
        "label": answer_label,
        "labels": [answer_label] if answer_label else [],
        "cot": answer,
        "meta": {
            "source": via,
            "split": "feedback",
            "media": source,
            "expression": dict(evidence.expression),
            "quality": list(evidence.quality),
            "quality_text": evidence.quality_text,
            "uncertain_aus": list(evidence.uncertain_aus),
            "start": evidence.start,
            "end": evidence.end,
        },
    }
    support = row_support(row)
    row["meta"].update(support=support.support, evidence=support.verdict, implied=support.implied)
    return row


def _save_image(evidence: Evidence, folder: Path, rid: str) -> str | None:
    """The face crop (or, when the backend kept none, the face cut from the photo still on disk) as a JPEG."""
    from PIL import Image

    image = evidence.images[0] if evidence.images else None
    path, box = evidence.meta.get("path"), evidence.meta.get("box")
    if image is None and isinstance(path, str) and Path(path).is_file():
        image = Image.open(path)
        if box and len(box) == 4:
            image = image.crop(padded_box(box, image.width, image.height))
    if image is None or not hasattr(image, "save"):
        return None
    target = folder / "images" / f"{rid}.jpg"
    target.parent.mkdir(parents=True, exist_ok=True)
    image.convert("RGB").save(target, "JPEG", quality=92)
    return str(target)


def record_correction(
    store: ReviewStore,
    reviewer: str,
    evidence: Evidence,
    answer: str,
    answer_label: str | None,
    right_label: str,
    via: str,
    source: str = "",
) -> dict[str, Any]:
    """Record that ``answer`` (labelled ``answer_label``) was wrong and ``right_label`` is right; returns the saved
    decision. The label is checked first (one normaliser, the store's label set), so a bad one saves nothing."""
    row = analysis_row(evidence, answer, answer_label, via, source)
    check_correction(row, right_label, None, store.label_set)  # a clear error before anything is written
    saved = _save_image(evidence, store.folder, row["id"])
    row["images"] = [saved] if saved else []
    store.rows.add(row)
    return store.decide(reviewer, row["id"], "correct", label=right_label, via=via)
