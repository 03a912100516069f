"""EMER (Explainable Multimodal Emotion Reasoning): MER2023 clips with a transcript and a human explanation.

Official layout (AffectGPT repo, ``EMER/dataset-v1``, Lian et al. 2023; videos from the MER 2023 release)::

    <root>/gt-eng.csv           columns names,emotions,subtitles,reasons (English; gt-chi.csv is the Chinese copy)
    <root>/video/<name>.mp4     the MER2023 clip (``videos/`` or <root> itself also work; .avi too)

``names``: the MER2023 sample name; ``emotions``: MER2023's discrete label (neutral, happy, sad, angry,
surprise, worried); ``subtitles``: the corrected transcript (-> ``transcript``); ``reasons``: the human EMER
explanation (-> ``meta.explanation``; the teacher prompt may show it). "worried" is not a canonical label: it
becomes ``labels=["worry"]`` with ``label`` None (open vocabulary), like MAFW's extra classes.
EMER is an evaluation set with no split: everything is ``test``. Frames: ``--frames-per-clip`` frames spread
evenly over the clip. (EMER-V2's final-EMER-reason.csv has no emotion column and is not read.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoreason.data_builders.base import (
    Context,
    Sample,
    Skip,
    UnknownLabel,
    find_media,
    map_label,
    read_csv,
    split_label,
)
from emoreason.data_builders.dfew import clip_frames
from emoreason.errors import EmoreasonError

COLUMNS = ("names", "emotions", "subtitles", "reasons")
# gt-eng.csv `emotions`: MER2023's six classes; "worried" is labels.EXTENDED_LABELS "worry".
LABEL_MAP: dict[int | str, str] = {
    "neutral": "neutral",
    "happy": "happiness",
    "sad": "sadness",
    "angry": "anger",
    "surprise": "surprise",
    "worried": "worry",
}
LICENSE = (
    "EMER annotations are released with AffectGPT (Apache-2.0); the videos are MER 2023's, available for academic "
    "research only under the MER 2023 EULA. Do not redistribute the clips."
)
CITATION = "Lian, Z., et al. Explainable Multimodal Emotion Reasoning. arXiv:2306.15401, 2023."


def iter_samples(ctx: Context) -> Iterator[Sample | Skip]:
    path = ctx.root if ctx.root.is_file() else ctx.root / "gt-eng.csv"
    if not path.is_file():
        raise EmoreasonError(f"{path} not found: --root must be the EMER folder holding gt-eng.csv")
    base = path.parent
    folders = [base / "video", base / "videos", base]
    for line, row in read_csv(path, COLUMNS):
        name = row["names"]
        if not name:
            raise EmoreasonError(f"{path}, line {line}: empty 'names'")
        stem = Path(name).stem if Path(name).suffix else name
        try:
            label, labels = split_label(map_label("emer", LABEL_MAP, row["emotions"], f"{path}, line {line}"))
        except UnknownLabel as bad:
            yield Skip(f"emer-{stem}", "test", bad.reason, bad.detail)
            continue
        video = next((v for f in folders if (v := find_media(f, stem))), None)
        yield Sample(
            id=f"emer-{stem}",
            split="test",
            label=label,
            labels=labels,
            make_images=clip_frames([], video or base / "video" / f"{stem}.mp4", ctx.frames_per_clip, "emer", stem),
            video=str(video or base / "video" / f"{stem}.mp4"),
            transcript=row["subtitles"],
            explanation=row["reasons"],
            meta={"subject": None, "raw_label": row["emotions"]},
        )
