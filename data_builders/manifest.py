"""A generic manifest: your own images or clips listed in one CSV or JSONL file, given as ``--root FILE``.

Columns (CSV header, or JSONL keys): ``path,label`` and optionally ``aus``, ``transcript``, ``prosody``,
``split`` (default ``train``, said once: without the column every row is in ``train``) and ``id`` (default: the
path without its suffix, relative to the manifest's folder; a path outside it gives its file name, with the line
number added when that name is taken).

- ``path``: an image, or a video clip (.mp4/.avi/.mkv/.mov/.webm: ``--frames-per-clip`` frames are decoded);
  relative paths are relative to the manifest's folder.
- ``label``: any emotion word or phrase the one label normaliser knows ("happy", "happily surprised",
  "anxious"); a list ("happy, surprised") fills ``labels``. A word it can't read, or an empty path, skips that
  line (counted as ``unknown label`` / ``missing path``, with the line number).
- ``aus``: JSON ``{"AU6": 2.5, "AU12": 3.1}`` (a JSON string in a CSV cell), on the 0..5 scale.
- ``face_box``: optional ``[x, y, w, h]`` (JSON) of the face the label is about, for photos with several faces;
  ``aligned``: optional ``true`` when the image is already a face crop (the whole image is the face).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from emoreason.data_builders.base import VIDEO_SUFFIXES, Context, Sample, Skip, read_csv
from emoreason.data_builders.frames import extract_frames
from emoreason.errors import EmoreasonError
from emoreason.facs import coerce_aus
from emoreason.labels import normalize_label, normalize_labels

logger = logging.getLogger(__name__)

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


def _face_box(value: Any, where: str) -> list[float] | None:
    if value in (None, ""):
        return None
    try:
        box = json.loads(value) if isinstance(value, str) else value
        box = [float(v) for v in box]
    except (ValueError, TypeError) as err:
        raise EmoreasonError(f"{where}: face_box must be JSON [x, y, w, h] ({err})") from err
    if len(box) != 4:
        raise EmoreasonError(f"{where}: face_box must have 4 numbers [x, y, w, h], got {len(box)}")
    return box


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes")


_SAID_NO_SPLIT: set[Path] = set()


def _default_id(raw_path: str, folder: Path, number: int, taken: dict[str, str]) -> str:
    """The id of a row without an ``id`` cell: its path relative to the manifest's folder, without the suffix
    ('/' -> '_'); a path outside that folder gives its file stem (not ``_tmp_media_x``), with ``_line<N>``
    added when a row with another path already has that id (the same path twice stays a duplicate id)."""
    media = Path(raw_path)
    if media.is_absolute():
        try:
            media = media.relative_to(folder.resolve())
        except ValueError:
            media = Path(media.name)
    sample_id = media.with_suffix("").as_posix().replace("/", "_")
    if taken.setdefault(sample_id, raw_path) != raw_path:
        return f"{sample_id}_line{number}"
    return sample_id


def _video_maker(video: Path, count: int, stem: str):  # noqa: ANN202
    def make(out: Path) -> tuple[list[str], list[int]]:
        return extract_frames(video, out / "images" / "manifest" / stem, stem, count=count)

    return make


def iter_samples(ctx: Context) -> Iterator[Sample | Skip]:
    path = ctx.root
    if not path.is_file():
        raise EmoreasonError(f"{path}: the manifest source takes --root FILE (a .csv or .jsonl with path,label)")
    taken: dict[str, str] = {}  # default id -> the path that gave it
    for number, row in _rows(path):
        where = f"{path}, line {number}"
        split = str(row.get("split") or "train")
        if not row.get("split") and path not in _SAID_NO_SPLIT:  # a build reads the manifest more than once
            _SAID_NO_SPLIT.add(path)
            logger.warning(
                "%s: a row without a split (from line %d) goes into 'train'; add a split column (train, "
                "validation, test) to hold rows out for `emoreason eval`", path, number,
            )
        raw_path = str(row.get("path") or "").strip()
        if not raw_path:
            label = normalize_label(str(row.get("label") or ""), "compound")
            detail = f"{where}: the path cell is empty"
            yield Skip(str(row.get("id") or f"line{number}"), split, "missing path", detail, label)
            continue
        text = str(row.get("label") or "")
        label = normalize_label(text, "compound")
        labels = normalize_labels(text, "open") or ([label] if label else [])
        sample_id = str(row.get("id") or _default_id(raw_path, path.parent, number, taken))
        if label is None and not labels:
            detail = f"{where}: unknown label {text!r}; use an emotion word such as happy, sad, angry"
            yield Skip(sample_id, split, "unknown label", detail)
            continue
        if label is None and len(labels) == 1 and normalize_label(labels[0], "compound"):
            label = labels[0]
        try:
            aus = coerce_aus(row.get("aus")) if row.get("aus") not in (None, "") else None
        except (ValueError, TypeError, KeyError) as err:
            raise EmoreasonError(f'{where}: aus must be JSON like {{"AU12": 3.0}} ({err})') from err
        media = Path(raw_path)
        media = media if media.is_absolute() else path.parent / media
        video = media.suffix.lower() in VIDEO_SUFFIXES
        yield Sample(
            id=sample_id,
            split=split,
            label=label,
            labels=labels,
            images=[] if video else [str(media)],
            make_images=_video_maker(media, ctx.frames_per_clip, sample_id) if video else None,
            video=str(media) if video else "",
            aus=aus,
            transcript=str(row.get("transcript") or ""),
            prosody=str(row.get("prosody") or ""),
            aligned=_flag(row.get("aligned")),
            meta={"subject": row.get("subject"), "raw_label": text, "face_box": _face_box(row.get("face_box"), where)},
        )
