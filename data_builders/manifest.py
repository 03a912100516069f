"""A generic manifest: your own images or clips listed in one CSV or JSONL file, given as ``--root FILE``.

Columns (CSV header, or JSONL keys): ``path,label`` and optionally ``aus``, ``transcript``, ``prosody``,
``split`` (default ``train``) and ``id`` (default: the path without its suffix).

- ``path``: an image, or a video clip (.mp4/.avi/.mkv/.mov/.webm: ``--frames-per-clip`` frames are decoded);
  relative paths are relative to the manifest's folder.
- ``label``: any emotion word or phrase the one label normaliser knows ("happy", "happily surprised",
  "anxious"); a list ("happy, surprised") fills ``labels``. Words it can't read are an error naming the line.
- ``aus``: JSON ``{"AU6": 2.5, "AU12": 3.1}`` (a JSON string in a CSV cell), on the 0..5 scale.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emoreason.data_builders.base import VIDEO_SUFFIXES, Context, Sample, Skip, read_csv
from emoreason.data_builders.frames import extract_frames
from emoreason.errors import EmoreasonError
from emoreason.facs import coerce_aus
from emoreason.labels import normalize_label, normalize_labels

LICENSE = "A user-supplied manifest: the license is that of the listed media; check it before sharing the dataset."
CITATION = ""


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix.lower() in (".jsonl", ".json"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as err:
                raise EmoreasonError(f"{path}, line {number}: not a JSON object ({err})") from err
            if not isinstance(row, dict) or "path" not in row or "label" not in row:
                raise EmoreasonError(f"{path}, line {number}: each line needs the keys path and label")
            yield number, row
    else:
        yield from read_csv(path, ("path", "label"))


def _video_maker(video: Path, count: int, stem: str):  # noqa: ANN202
    def make(out: Path) -> tuple[list[str], list[int]]:
        return extract_frames(video, out / "images" / "manifest" / stem, stem, count=count)

    return make


def iter_samples(ctx: Context) -> Iterator[Sample | Skip]:
    path = ctx.root
    if not path.is_file():
        raise EmoreasonError(f"{path}: the manifest source takes --root FILE (a .csv or .jsonl with path,label)")
    for number, row in _rows(path):
        where = f"{path}, line {number}"
        text = str(row.get("label") or "")
        label = normalize_label(text, "compound")
        labels = normalize_labels(text, "open") or ([label] if label else [])
        if label is None and not labels:
            raise EmoreasonError(f"{where}: unknown label {text!r}; use an emotion word such as happy, sad, angry")
        if label is None and len(labels) == 1 and normalize_label(labels[0], "compound"):
            label = labels[0]
        try:
            aus = coerce_aus(row.get("aus")) if row.get("aus") not in (None, "") else None
        except (ValueError, TypeError, KeyError) as err:
            raise EmoreasonError(f'{where}: aus must be JSON like {{"AU12": 3.0}} ({err})') from err
        media = Path(str(row["path"]))
        media = media if media.is_absolute() else path.parent / media
        sample_id = str(row.get("id") or Path(str(row["path"])).with_suffix("").as_posix().replace("/", "_"))
        video = media.suffix.lower() in VIDEO_SUFFIXES
        yield Sample(
            id=sample_id,
            split=str(row.get("split") or "train"),
            label=label,
            labels=labels,
            images=[] if video else [str(media)],
            make_images=_video_maker(media, ctx.frames_per_clip, sample_id) if video else None,
            video=str(media) if video else "",
            aus=aus,
            transcript=str(row.get("transcript") or ""),
            prosody=str(row.get("prosody") or ""),
            meta={"subject": row.get("subject"), "raw_label": text},
        )
