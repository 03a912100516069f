"""AffectNet (manually annotated part), in the layout the AffectNet authors distribute (Mollahosseini et al.).

Official layout::

    <root>/Manually_Annotated_file_lists/training.csv      (414,799 rows)
    <root>/Manually_Annotated_file_lists/validation.csv    (5,500 rows)
    <root>/Manually_Annotated_Images/<subDirectory_filePath>       e.g. 689/737db24834...ca.jpg

CSV columns: ``subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,
arousal``. ``expression``: 0 Neutral, 1 Happy, 2 Sad, 3 Surprise, 4 Fear, 5 Disgust, 6 Anger, 7 Contempt,
8 None, 9 Uncertain, 10 No-Face; 8..10 have no emotion and are skipped with that reason. ``valence`` and
``arousal`` (-1..1; -2 where the annotators gave none) go to ``meta`` (-2 becomes None), with the face box.
Splits: training.csv -> ``train``, validation.csv -> ``validation``.
"""

from __future__ import annotations

from collections.abc import Iterator

from emoreason.data_builders.base import Context, Sample, Skip, UnknownLabel, map_label, need, read_csv, split_label
from emoreason.errors import EmoreasonError

COLUMNS = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "expression",
    "valence",
    "arousal",
)
NOT_EMOTIONS = {8: "None", 9: "Uncertain", 10: "No-Face"}
FILES = {"training.csv": "train", "validation.csv": "validation"}
# `expression`: 0..7 -> canonical label (8 None, 9 Uncertain, 10 Non-Face are skipped: NOT_EMOTIONS).
LABEL_MAP: dict[int | str, str] = {
    0: "neutral",
    1: "happiness",
    2: "sadness",
    3: "surprise",
    4: "fear",
    5: "disgust",
    6: "anger",
    7: "contempt",
}
LICENSE = (
    "AffectNet is available for non-commercial research and educational purposes only, under the AffectNet "
    "license agreement (http://mohammadmahoor.com/affectnet/). Do not redistribute the images."
)
CITATION = (
    "Mollahosseini, A., Hasani, B., Mahoor, M. H. AffectNet: A Database for Facial Expression, Valence, and "
    "Arousal Computing in the Wild. IEEE Transactions on Affective Computing 10(1), 2019."
)


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return None if number == -2 else number


def iter_samples(ctx: Context) -> Iterator[Sample | Skip]:
    lists = need(ctx.root / "Manually_Annotated_file_lists", "the AffectNet Manually_Annotated_file_lists folder")
    images = ctx.root / "Manually_Annotated_Images"
    found = [name for name in FILES if (lists / name).is_file()]
    if not found:
        raise EmoreasonError(f"{lists}: expected training.csv and/or validation.csv")
    for name in found:
        path, split = lists / name, FILES[name]
        for line, row in read_csv(path, COLUMNS):
            rel = row["subDirectory_filePath"]
            try:
                code = int(float(row["expression"]))
            except ValueError as err:
                raise EmoreasonError(f"{path}, line {line}: expression {row['expression']!r} is not a number") from err
            sample_id = f"affectnet-{rel.replace('/', '_').rsplit('.', 1)[0]}"
            if code in NOT_EMOTIONS:
                yield Skip(sample_id, split, f"no emotion ({NOT_EMOTIONS[code]})", f"{path}, line {line}")
                continue
            try:
                label, labels = split_label(map_label("affectnet", LABEL_MAP, code, f"{path}, line {line}"))
            except UnknownLabel as bad:
                yield Skip(sample_id, split, bad.reason, bad.detail)
                continue
            box = [_number(row[k]) for k in ("face_x", "face_y", "face_width", "face_height")]
            meta = {
                "subject": None,
                "raw_label": code,
                "valence": _number(row["valence"]),
                "arousal": _number(row["arousal"]),
                "face_box": box,
            }
            yield Sample(sample_id, split, label, labels, images=[str(images / rel)], meta=meta, aligned=True)
