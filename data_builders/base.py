"""What every source adapter shares: the Sample it yields, the Skip it reports, the Source it is registered as.

An adapter is a function ``iter_samples(ctx) -> Iterator[Sample | Skip]`` that reads one corpus in its official
on-disk layout. It yields a :class:`Sample` per usable item and a :class:`Skip` for items the corpus itself rules
out (AffectNet "Non-Face", FERPlus majority "unknown"). Missing or corrupt image files are found by the build
pipeline, not the adapter. Layout errors (a missing label file, wrong CSV columns, an unknown label value) raise
:class:`~emoreason.errors.EmoreasonError` naming the file and line.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.labels import is_canonical

# Intensity given to an AU a corpus codes as present without an intensity (BP4D occurrence = 1, CK+ intensity 0
# = "unspecified"): 3.0, FACS level C ("marked"), the middle of the 1..5 A..E scale.
OCCURRENCE_INTENSITY = 3.0

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".flv")


@dataclass
class Sample:
    """One dataset item before AU attachment and CoT synthesis.

    ``images`` are paths on disk. Sources whose pixels are not files yet (FER2013's CSV, video clips) set
    ``make_images`` instead: it is called only for items the build has not finished, with the output folder to
    write into, and returns (paths, frame indices in ``video``; [] for stills), raising :class:`SkipSample` when
    the media is unreadable.
    """

    id: str
    split: str
    label: str | None  # canonical label, or None (open-vocabulary-only classes, AU-only corpora)
    labels: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    make_images: Callable[[Path], tuple[list[str], list[int]]] | None = None
    video: str = ""
    frames: list[int] = field(default_factory=list)  # frame indices of ``images`` in ``video`` (video sources)
    aus: dict[str, float] | None = None  # the corpus's own AU coding, when it has one
    transcript: str = ""
    prosody: str = ""
    explanation: str = ""  # a corpus-provided explanation (EMER), kept in meta
    aligned: bool = False  # the image is the corpus's own face crop: the whole image is the face (data_builders.faces)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Skip:
    """An item the corpus lists but that cannot become a row; ``reason`` is a short category for the summary."""

    id: str
    split: str
    reason: str
    detail: str = ""
    label: str | None = None  # the item's label where the corpus gives one (for the card's per-label counts)


class SkipSample(Exception):
    """Raised by ``Sample.make_images`` (or the pipeline) when one item's media is missing or unreadable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class UnknownLabel(SkipSample, EmoreasonError):
    """A label value outside the corpus's label map: the adapter yields a :class:`Skip` for it and goes on."""

    def __init__(self, detail: str) -> None:
        SkipSample.__init__(self, "unknown label", detail)


@dataclass
class Context:
    """What an adapter gets: the ``--root`` it reads and per-run options (frames per clip, frame stride)."""

    root: Path
    frames_per_clip: int = 4
    frame_stride: int = 50
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """One registered corpus: how to read it and what the dataset card says about it."""

    name: str
    iter_samples: Callable[[Context], Iterator[Sample | Skip]]
    description: str
    license: str
    citation: str
    label_set: str = "basic"  # the prompt's label set: basic | compound | open
    has_aus: bool = False  # the corpus codes AUs itself (CK+, DISFA, BP4D)
    root_is_file: bool = False  # --root is a file (manifest), not a folder


def need(path: Path, what: str) -> Path:
    """``path`` if it exists, else an EmoreasonError saying which official file or folder is missing."""
    if not path.exists():
        raise EmoreasonError(f"{path} not found: {what}. Is --root the corpus's top folder in its official layout?")
    return path


def map_label(source: str, table: dict[int | str, str], value: str | int, where: str) -> str:
    """A corpus label value -> the label in ``table`` (the adapter's ``LABEL_MAP``); an unknown value raises
    :class:`UnknownLabel` naming the file and line (adapters turn it into a Skip, counted as "unknown label")."""
    key: str | int = value
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
            key = int(number) if number.is_integer() else text
        except ValueError:
            key = text.lower()
    if key not in table:
        valid = ", ".join(str(k) for k in table)
        raise UnknownLabel(f"{where}: unknown {source} label {value!r}; valid values: {valid}")
    return table[key]


def split_label(label: str) -> tuple[str | None, list[str]]:
    """(``label``, ``labels``) for a mapped label: canonical labels fill both; open-vocabulary ones only ``labels``."""
    return (label if is_canonical(label) else None), [label]


def read_csv(path: Path, expected: tuple[str, ...], delimiter: str = ",") -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV with a header as (line number, row). Missing columns raise an error listing the expected ones."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in expected if c not in header]
        if missing:
            raise EmoreasonError(
                f"{path}: wrong columns; expected {', '.join(expected)} (missing {', '.join(missing)}; "
                f"found {', '.join(header) or 'no header'})"
            )
        reader.fieldnames = header
        for row in reader:
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}


def sorted_images(folder: Path) -> list[Path]:
    """Image files in a folder, in frame order (by the last run of digits in the name, then by name)."""
    import re

    def key(p: Path) -> tuple[int, str]:
        digits = re.findall(r"\d+", p.stem)
        return (int(digits[-1]) if digits else -1, p.name)

    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=key)


def pick_evenly(items: list[Any], n: int) -> list[Any]:
    """``n`` items spread evenly over ``items`` (all of them when there are fewer)."""
    if n <= 0 or len(items) <= n:
        return list(items)
    step = len(items) / n
    return [items[int(step * i + step / 2)] for i in range(n)]


def find_media(folder: Path, stem: str, suffixes: tuple[str, ...] = VIDEO_SUFFIXES) -> Path | None:
    """``folder/stem.<ext>`` for the first existing suffix (either case), or None."""
    for suffix in suffixes:
        for candidate in (folder / f"{stem}{suffix}", folder / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None
