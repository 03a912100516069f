"""OpenFace 2.0 CSV import: a second AU source, for AUs the blendshape estimator reads poorly (AU9, AU5, AU23).

OpenFace's recorder (``RecorderCSV.cpp``) writes the header and the values separated by ``", "``. Three layouts:
- ``FeatureExtraction`` / ``FaceLandmarkVidMulti`` (sequences): ``frame, face_id, timestamp, confidence, success, ...``
- OpenFace before 2.0.6: the same without ``face_id`` (one face per frame; face_id is taken as 0);
- ``FaceLandmarkImg`` (still images): ``face, confidence, ...`` (no frame or success; frame is taken as 0).
AU columns follow: ``AUxx_r`` intensities (0..5) for AUs 1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26,
45, then ``AUxx_c`` presence (0/1) for the same AUs plus 28.

Rows are kept when ``success == 1`` and ``confidence >= min_confidence``. An AU's intensity is its ``_r`` value;
an AU with only a ``_c`` column (AU28) gets ``facs.PRESENCE_THRESHOLD`` when present. OpenFace's AUs are bilateral.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from emoreason import facs
from emoreason.errors import EmoreasonError

logger = logging.getLogger(__name__)

AU_R: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
AU_C: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 28, 45)
MIN_CONFIDENCE = 0.75
_AU_COLUMN = re.compile(r"^AU(\d{2})_([rc])$")
EXPECTED = (
    "frame, face_id, timestamp, confidence, success (or face, confidence for FaceLandmarkImg), then "
    + ", ".join(f"AU{n:02d}_r" for n in AU_R)
    + ", "
    + ", ".join(f"AU{n:02d}_c" for n in AU_C)
)


@dataclass
class OpenFaceRow:
    """One face in one frame of an OpenFace CSV."""

    frame: int
    face_id: int
    timestamp: float | None
    confidence: float
    aus: dict[str, float] = field(default_factory=dict)  # {"AU12": 2.3}
    present: list[str] = field(default_factory=list)  # AUs whose _c column is 1
    center: tuple[float, float] | None = None  # mean of the 68 2D landmarks (x_i, y_i), pixels, when written


def _number(value: str) -> float:
    value = value.strip()
    if value.lower() in ("", "nan", "-nan", "inf", "-inf"):
        raise ValueError(f"not a finite number: {value!r}")
    return float(value)


def _columns(header: list[str], path: Path) -> tuple[dict[str, int], dict[int, int], dict[int, int]]:
    names = [h.strip() for h in header]
    index = {name: i for i, name in enumerate(names)}
    reg: dict[int, int] = {}
    cls: dict[int, int] = {}
    for name, i in index.items():
        m = _AU_COLUMN.match(name)
        if m:
            (reg if m.group(2) == "r" else cls)[int(m.group(1))] = i
    has_meta = ("frame" in index and "success" in index) or "face" in index
    if not has_meta or "confidence" not in index or not (reg or cls):
        missing = [c for c in ("frame", "confidence", "success") if c not in index]
        if not (reg or cls):
            missing.append("AUxx_r / AUxx_c")
        raise EmoreasonError(
            f"{path} is not an OpenFace 2.0 CSV (missing {', '.join(missing)}); expected columns: {EXPECTED}"
        )
    return index, reg, cls


def _center(values: list[str], index: dict[str, int]) -> tuple[float, float] | None:
    xs = [index[f"x_{i}"] for i in range(68) if f"x_{i}" in index]
    ys = [index[f"y_{i}"] for i in range(68) if f"y_{i}" in index]
    if not xs or not ys:
        return None
    return (sum(_number(values[i]) for i in xs) / len(xs), sum(_number(values[i]) for i in ys) / len(ys))


def read_openface_rows(path: str | os.PathLike[str], min_confidence: float = MIN_CONFIDENCE) -> list[OpenFaceRow]:
    """All usable rows of an OpenFace CSV, in file order. Malformed rows are skipped with a warning."""
    path = Path(path)
    if not path.is_file():
        raise EmoreasonError(f"OpenFace CSV not found: {path}" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, skipinitialspace=True)
            header = next(reader, None)
            if not header:
                raise EmoreasonError(f"{path} is empty; expected an OpenFace CSV with columns: {EXPECTED}")
            index, reg, cls = _columns(header, path)
            rows: list[OpenFaceRow] = []
            skipped = 0
            for line_no, values in enumerate(reader, start=2):
                if not values or all(not v.strip() for v in values):
                    continue
                try:
                    row = _row(values, index, reg, cls)
                except (ValueError, IndexError):
                    skipped += 1
                    logger.debug("%s:%d: malformed OpenFace row skipped", path, line_no)
                    continue
                if row is not None and row.confidence >= min_confidence:
                    rows.append(row)
    except UnicodeDecodeError as err:
        raise EmoreasonError(f"{path} is not a text CSV file; expected an OpenFace CSV") from err
    if skipped:
        logger.warning("%s: skipped %d malformed row(s)", path, skipped)
    return rows


def _row(values: list[str], index: dict[str, int], reg: dict[int, int], cls: dict[int, int]) -> OpenFaceRow | None:
    if "success" in index and _number(values[index["success"]]) < 1:
        return None
    if "frame" in index:
        frame = int(_number(values[index["frame"]]))
        face_id = int(_number(values[index["face_id"]])) if "face_id" in index else 0
    else:  # FaceLandmarkImg: one row per face of one image
        frame, face_id = 0, int(_number(values[index["face"]]))
    timestamp = _number(values[index["timestamp"]]) if "timestamp" in index else None
    confidence = _number(values[index["confidence"]])
    aus: dict[str, float] = {}
    for number, i in reg.items():
        aus[facs.au_key(number)] = round(min(facs.MAX_INTENSITY, max(0.0, _number(values[i]))), 2)
    present = []
    for number, i in cls.items():
        if _number(values[i]) >= 0.5:
            present.append(facs.au_key(number))
            if number not in reg:
                aus[facs.au_key(number)] = facs.PRESENCE_THRESHOLD
    return OpenFaceRow(frame, face_id, timestamp, confidence, aus, present, _center(values, index))


def read_openface_csv(
    path: str | os.PathLike[str], min_confidence: float = MIN_CONFIDENCE
) -> dict[tuple[int, int], dict[str, float]]:
    """AU intensities per ``(frame, face_id)`` from an OpenFace 2.0 CSV (filtered by success and confidence)."""
    return {(row.frame, row.face_id): row.aus for row in read_openface_rows(path, min_confidence)}
