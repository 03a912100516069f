"""CK+ (Extended Cohn-Kanade), with the corpus's own FACS coding as the AUs.

Official layout (CK+ ReadMeCohnKanadeDatabase_website.txt, Lucey et al. 2010)::

    <root>/cohn-kanade-images/S005/001/S005_001_00000001.png ... S005_001_00000011.png
    <root>/Emotion/S005/001/S005_001_00000011_emotion.txt   one number, e.g. "   3.0000000e+00"
    <root>/FACS/S005/001/S005_001_00000011_facs.txt         one "AU intensity" row per AU, e.g.
                                                            "   1.0000000e+00   0.0000000e+00"

Sequences run from neutral to the peak; the emotion and FACS files name the peak (last) frame. Only 327 of the
593 sequences have an Emotion file; the others are skipped ("no emotion file"). Emotion codes: 0 neutral,
1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise.

FACS intensities are 1..5 for A..E, and 0 where the coders marked the AU present without an intensity
("unspecified"); those get ``base.OCCURRENCE_INTENSITY`` (3.0, level C) and are listed in
``meta.aus_unspecified``. A row is the peak frame. CK+ has no official split: everything is ``train``; the
subject (``meta.subject``) allows subject-exclusive folds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoreason.data_builders.base import (
    OCCURRENCE_INTENSITY,
    Context,
    Sample,
    Skip,
    UnknownLabel,
    map_label,
    need,
    split_label,
)
from emoreason.errors import EmoreasonError
from emoreason.facs import au_key

# Emotion/*_emotion.txt: 0..7 -> canonical label.
LABEL_MAP: dict[int | str, str] = {
    0: "neutral",
    1: "anger",
    2: "contempt",
    3: "disgust",
    4: "fear",
    5: "happiness",
    6: "sadness",
    7: "surprise",
}
LICENSE = (
    "CK+ is distributed by the University of Pittsburgh for non-commercial research only, under the CK+ "
    "agreement (www.jeffcohn.net/resources). Images of subjects may not be published without their consent."
)
CITATION = (
    "Lucey, P., Cohn, J. F., Kanade, T., Saragih, J., Ambadar, Z., Matthews, I. The Extended Cohn-Kanade Dataset "
    "(CK+). CVPR Workshops 2010."
)


def read_facs(path: Path) -> tuple[dict[str, float], list[str]]:
    """AUs of one ``*_facs.txt``: ({AU: intensity}, AUs coded with unspecified intensity)."""
    aus: dict[str, float] = {}
    unspecified: list[str] = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            au, intensity = (float(v) for v in line.split()[:2])
        except ValueError as err:
            raise EmoreasonError(f"{path}, line {number}: expected 'AU intensity', got {line.strip()!r}") from err
        key = au_key(int(au))
        if intensity == 0:
            unspecified.append(key)
            intensity = OCCURRENCE_INTENSITY
        aus[key] = float(intensity)
    return aus, unspecified


def iter_samples(ctx: Context) -> Iterator[Sample | Skip]:
    images = need(ctx.root / "cohn-kanade-images", "the CK+ cohn-kanade-images folder")
    emotion_dir = need(ctx.root / "Emotion", "the CK+ Emotion folder")
    facs_dir = ctx.root / "FACS"
    for seq in sorted(p for p in images.glob("S*/*") if p.is_dir()):
        subject, sequence = seq.parent.name, seq.name
        emotion_files = sorted((emotion_dir / subject / sequence).glob("*_emotion.txt"))
        if not emotion_files:
            yield Skip(f"ckplus-{subject}_{sequence}", "train", "no emotion file", str(seq))
            continue
        emotion_file = emotion_files[-1]
        stem = emotion_file.name[: -len("_emotion.txt")]
        text = emotion_file.read_text().strip()
        try:
            label, labels = split_label(map_label("ckplus", LABEL_MAP, text, f"{emotion_file}, line 1"))
        except UnknownLabel as bad:
            yield Skip(f"ckplus-{stem}", "train", bad.reason, bad.detail)
            continue
        facs_file = facs_dir / subject / sequence / f"{stem}_facs.txt"
        aus, unspecified = read_facs(facs_file) if facs_file.is_file() else ({}, [])
        yield Sample(
            id=f"ckplus-{stem}",
            split="train",
            label=label,
            labels=labels,
            images=[str(seq / f"{stem}.png")],
            aus=aus if facs_file.is_file() else None,
            meta={"subject": subject, "sequence": sequence, "raw_label": text, "aus_unspecified": unspecified},
        )
