"""One Sample -> one row: its media checked (missing, empty, corrupt or truncated files are a SkipSample), its AUs
attached (``attach.py``, which also chooses the face) and its evidence support computed (``support.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emoreason.data_builders import attach as au_attach
from emoreason.data_builders.base import Sample, SkipSample
from emoreason.data_builders.support import row_support
from emoreason.errors import about


def verified_images(paths: list[str]) -> list[str]:
    """Absolute paths of the images, each checked to exist, be non-empty and decode to its end."""
    from PIL import Image, UnidentifiedImageError

    out = []
    for path in paths:
        if not Path(path).is_file():
            raise SkipSample("missing file", path)
        if Path(path).stat().st_size == 0:
            raise SkipSample("empty file", path)
        try:
            with Image.open(path) as image:
                image.verify()
            with Image.open(path) as image:  # verify() misses truncation; a draft (JPEG at 1/8 scale) decode finds it
                image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
            raise SkipSample("corrupt image", about(path, err)) from err
        out.append(str(Path(path).resolve()))
    if not out:
        raise SkipSample("missing file", "no image")
    return out


def prepare_row(sample: Sample, source: str, out: Path, au_source: str, openface: Path | None) -> dict[str, Any]:
    """One Sample -> a row dict with checked image paths, AUs and evidence support (raises SkipSample)."""
    images, frames = sample.make_images(out) if sample.make_images else (sample.images, sample.frames)
    row: dict[str, Any] = {
        "id": sample.id,
        "images": verified_images(images),
        "video": sample.video,
        "frames": list(frames),
        "aus": None,
        "transcript": sample.transcript,
        "prosody": sample.prosody,
        "label": sample.label,
        "labels": list(sample.labels),
        "cot": "",
        "meta": {"source": source, "split": sample.split, "label_source": "dataset",
                 "explanation": sample.explanation, **sample.meta},
    }  # fmt: skip
    used = au_attach.attach(row, au_source, sample.aus, openface, aligned=sample.aligned)
    support = row_support(row)
    row["meta"].update({"au_source": used, "support": support.support, "evidence": support.verdict,
                        "implied": support.implied})  # fmt: skip
    return row
