"""RAF-DB (Real-world Affective Faces), basic and compound subsets, with the manual attributes.

Official layout (RAF-DB README, Li & Deng, CVPR 2017 / IEEE TIP 2019; http://www.whdeng.cn/raf/model1.html)::

    <root>/basic/                            (--root may also be this folder itself)
        EmoLabel/list_patition_label.txt     "train_00001.jpg 5": image name, label 1..7
        Image/aligned/train_00001_aligned.jpg   (100x100 aligned faces; preferred)
        Image/original/train_00001.jpg
        Annotation/manual/train_00001_manu_attri.txt
    <root>/compound/
        EmoLabel/list_patition_label.txt     "train_0001.jpg 3": image name, label 1..11
        Image/aligned/train_0001_aligned.jpg, Image/original/train_0001.jpg
        Annotation/manual/train_0001_manu_attri.txt

The split is the name prefix (``train_`` / ``test_``). Basic labels: 1 Surprise, 2 Fear, 3 Disgust, 4 Happiness,
5 Sadness, 6 Anger, 7 Neutral. Compound labels: 1 Happily Surprised, 2 Happily Disgusted, 3 Sadly Fearful,
4 Sadly Angry, 5 Sadly Surprised, 6 Sadly Disgusted, 7 Fearfully Angry, 8 Fearfully Surprised, 9 Angrily
Surprised, 10 Angrily Disgusted, 11 Disgustedly Surprised (``LABEL_MAP``, ``COMPOUND_LABEL_MAP``).

``*_manu_attri.txt``: five landmark lines "x<TAB>y" (eye centres, nose tip, mouth corners), then one line each
for gender (0 male, 1 female, 2 unsure), race (0 Caucasian, 1 African-American, 2 Asian) and age group
(0 0-3, 1 4-19, 2 20-39, 3 40-69, 4 70+). They go to ``meta`` as words; a missing file leaves them None.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoreason.data_builders.base import Context, Sample, Skip, UnknownLabel, map_label, need, split_label
from emoreason.errors import EmoreasonError
from emoreason.labels import COMPOUND_LABELS

GENDER = {0: "male", 1: "female", 2: "unsure"}
RACE = {0: "Caucasian", 1: "African-American", 2: "Asian"}
AGE = {0: "0-3", 1: "4-19", 2: "20-39", 3: "40-69", 4: "70+"}

# Official numbering of list_patition_label.txt (basic: 1..7; compound: 1..11, COMPOUND_LABELS' order).
LABEL_MAP: dict[int | str, str] = {
    1: "surprise",
    2: "fear",
    3: "disgust",
    4: "happiness",
    5: "sadness",
    6: "anger",
    7: "neutral",
}
COMPOUND_LABEL_MAP: dict[int | str, str] = {i + 1: name for i, name in enumerate(COMPOUND_LABELS)}
LICENSE = (
    "RAF-DB is available for non-commercial research purposes only, under the RAF-DB agreement signed with the "
    "authors (http://www.whdeng.cn/raf/model1.html). Do not redistribute the images."
)
CITATION = (
    "Li, S., Deng, W. Reliable Crowdsourcing and Deep Locality-Preserving Learning for Unconstrained Facial "
    "Expression Recognition. IEEE TIP 28(1), 2019."
)


def _subset_dir(root: Path, subset: str) -> Path:
    if (root / subset / "EmoLabel").is_dir():
        return root / subset
    if (root / "EmoLabel").is_dir():
        return root
    raise EmoreasonError(
        f"{root}: not a RAF-DB {subset} layout; expected {root / subset / 'EmoLabel' / 'list_patition_label.txt'} "
        f"(or --root pointing at the {subset}/ folder itself)"
    )


def read_attributes(path: Path) -> dict[str, str | None]:
    """gender/race/age words from a ``*_manu_attri.txt`` file (None each when the file is absent or short)."""
    out: dict[str, str | None] = {"gender": None, "race": None, "age": None}
    if not path.is_file():
        return out
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    codes = lines[5:8]
    for (key, table), code in zip((("gender", GENDER), ("race", RACE), ("age", AGE)), codes, strict=False):
        try:
            out[key] = table.get(int(float(code)))
        except ValueError:
            out[key] = None
    return out


def _iter(ctx: Context, subset: str, source: str, table: dict[int | str, str]) -> Iterator[Sample | Skip]:
    base = _subset_dir(ctx.root, subset)
    label_file = need(base / "EmoLabel" / "list_patition_label.txt", f"the RAF-DB {subset} label file")
    for number, line in enumerate(label_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise EmoreasonError(f"{label_file}, line {number}: expected '<image name> <label>', got {line!r}")
        name, value = parts
        split = name.split("_", 1)[0]
        if split not in ("train", "test"):
            raise EmoreasonError(f"{label_file}, line {number}: image name {name!r} does not start with train_/test_")
        stem = Path(name).stem
        try:
            label, labels = split_label(map_label(source, table, value, f"{label_file}, line {number}"))
        except UnknownLabel as bad:
            yield Skip(f"{source}-{stem}", split, bad.reason, bad.detail)
            continue
        aligned = base / "Image" / "aligned" / f"{stem}_aligned.jpg"
        original = base / "Image" / "original" / name
        image = aligned if aligned.is_file() or not original.is_file() else original
        attributes = read_attributes(base / "Annotation" / "manual" / f"{stem}_manu_attri.txt")
        meta = {"subject": None, "raw_label": value, **attributes}
        yield Sample(id=f"{source}-{stem}", split=split, label=label, labels=labels, images=[str(image)], meta=meta,
                     aligned=image == aligned)  # fmt: skip


def iter_basic(ctx: Context) -> Iterator[Sample | Skip]:
    """RAF-DB basic: 7 labels, train/test."""
    return _iter(ctx, "basic", "rafdb", LABEL_MAP)


def iter_compound(ctx: Context) -> Iterator[Sample | Skip]:
    """RAF-DB compound: 11 labels, train/test."""
    return _iter(ctx, "compound", "rafdb-compound", COMPOUND_LABEL_MAP)
