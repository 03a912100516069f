"""FERPlus (FER+): ten crowd votes per FER2013 image, in the layout of https://github.com/microsoft/FERPlus.

Official layout::

    <root>/fer2013new.csv   Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF
    <root>/FER2013Train/fer0000000.png    (Usage Training; images made by the repo's generate_training_data.py)
    <root>/FER2013Valid/...               (Usage PublicTest)
    <root>/FER2013Test/...                (Usage PrivateTest)

Rows are in fer2013.csv order; an empty ``Image name`` marks an image FER+ dropped (counted as skipped).

Label, as the FERPlus repo's ``majority`` mode (src/ferplus.py ``_process_data``): votes of 1 are removed as
outliers; if the largest remaining count is more than half of the remaining votes, its emotion is the label,
otherwise the image is "unknown". A tie can't pass that test, so ties are unknown too. Images whose majority
is ``unknown`` or ``NF`` (not a face), or that have no majority, are skipped with that reason.
``labels`` lists every emotion with at least 30% of the remaining votes (the repo's ``multi_target`` threshold),
the majority first. ``meta.votes`` keeps the ten raw counts; ``meta.soft_labels`` is the raw vote share of each
of the eight emotions (votes / all ten columns' votes).
Splits: FER2013Train -> ``train``, FER2013Valid -> ``validation``, FER2013Test -> ``test``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoreason.data_builders.base import Context, Sample, Skip, map_label, read_csv
from emoreason.errors import EmoreasonError

EMOTIONS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
COLUMNS = ("Usage", "Image name", *EMOTIONS, "unknown", "NF")
FOLDERS = {"Training": ("FER2013Train", "train"), "PublicTest": ("FER2013Valid", "validation"),
           "PrivateTest": ("FER2013Test", "test")}  # fmt: skip
# fer2013new.csv vote columns -> canonical label (``unknown`` and ``NF`` are not emotions).
LABEL_MAP: dict[int | str, str] = {
    "neutral": "neutral",
    "happiness": "happiness",
    "surprise": "surprise",
    "sadness": "sadness",
    "anger": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "contempt": "contempt",
}
LICENSE = (
    "The FER+ annotations are released by Microsoft under the MIT license (github.com/microsoft/FERPlus); the "
    "images are FER2013's, under the Kaggle/ICML 2013 challenge terms. Do not redistribute the images."
)
CITATION = (
    "Barsoum, E., Zhang, C., Canton Ferrer, C., Zhang, Z. Training Deep Networks for Facial Expression "
    "Recognition with Crowd-Sourced Label Distribution. ICMI 2016."
)


def majority(votes: list[float]) -> int | None:
    """Index of the FERPlus ``majority``-mode label over the ten vote columns, or None for "unknown".

    >>> majority([4, 0, 0, 1, 3, 2, 0, 0, 0, 0]), majority([6, 0, 1, 1, 0, 0, 0, 0, 2, 0])
    (None, 0)
    """
    kept = [v if v > 1 else 0.0 for v in votes]
    total = sum(kept)
    if total <= 0:
        return None
    best = max(kept)
    return kept.index(best) if best > 0.5 * total else None


def iter_samples(ctx: Context) -> Iterator[Sample | Skip]:
    root = ctx.root
    path = root if root.is_file() else root / "fer2013new.csv"
    if not path.is_file():
        raise EmoreasonError(f"{path} not found: --root must be the FERPlus folder holding fer2013new.csv")
    base = path.parent
    for index, (line, row) in enumerate(read_csv(path, COLUMNS)):
        usage = row["Usage"]
        if usage not in FOLDERS:
            raise EmoreasonError(f"{path}, line {line}: unknown Usage {usage!r}; expected one of {', '.join(FOLDERS)}")
        folder, split = FOLDERS[usage]
        name = row["Image name"] or f"fer{index:07d}.png"
        if not row["Image name"]:
            yield Skip(Path(name).stem, split, "dropped by FER+ (empty Image name)", f"line {line}")
            continue
        try:
            votes = [float(row[c]) for c in COLUMNS[2:]]
        except ValueError as err:
            raise EmoreasonError(f"{path}, line {line}: vote counts must be numbers ({err})") from err
        top = majority(votes)
        if top is None or top >= len(EMOTIONS):
            reason = "no majority label" if top is None else f"majority is {COLUMNS[2 + top]}"
            yield Skip(Path(name).stem, split, f"FER+ {reason}", f"line {line}")
            continue
        where = f"{path}, line {line}"
        label = map_label("ferplus", LABEL_MAP, EMOTIONS[top], where)
        kept = [v if v > 1 else 0.0 for v in votes[: len(EMOTIONS)]]
        total_kept = sum(v if v > 1 else 0.0 for v in votes)
        others = [i for i in sorted(range(len(EMOTIONS)), key=lambda i: -kept[i]) if i != top]
        labels = [label] + [
            map_label("ferplus", LABEL_MAP, EMOTIONS[i], where) for i in others if kept[i] >= 0.3 * total_kept
        ]
        total = sum(votes)
        yield Sample(
            id=Path(name).stem,
            split=split,
            label=label,
            labels=labels,
            images=[str(base / folder / name)],
            aligned=True,
            meta={
                "subject": None,
                "votes": {c: votes[i] for i, c in enumerate(COLUMNS[2:])},
                "soft_labels": {
                    map_label("ferplus", LABEL_MAP, e, where): votes[i] / total for i, e in enumerate(EMOTIONS)
                },
            },
        )
