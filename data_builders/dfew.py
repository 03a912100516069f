"""DFEW (Dynamic Facial Expression in the Wild): 16,372 movie clips, single-labelled part, official 5 folds.

Official layout (the DFEW release from https://dfew-dataset.github.io, Jiang et al. ACM MM 2020)::

    <root>/EmoLabel_DataSplit/train(single-labeled)/set_1.csv ... set_5.csv    columns video_name,label
    <root>/EmoLabel_DataSplit/test(single-labeled)/set_1.csv ... set_5.csv
    <root>/Clip/clip_224x224/00001/...jpg          face-aligned frames of clip 00001 (the release's frames)
    <root>/Clip/clip_224x224_16f/00001/...jpg      the same, 16 frames per clip
    <root>/Clip/original/00001.avi                 the raw clip

``video_name`` is the clip number (00001 zero-padded to 5 digits in the folder names); ``label``: 1 Happy,
2 Sad, 3 Neutral, 4 Angry, 5 Surprise, 6 Disgust, 7 Fear. The fold is ``options["fold"]`` (1..5, default 1);
its train/test files become the ``train`` and ``test`` splits.

Frames: ``--frames-per-clip`` frames spread evenly over the clip's frame folder (clip_224x224, else
clip_224x224_16f); when neither exists they are decoded from Clip/original (``frames.extract_frames``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoreason.data_builders.base import (
    Context,
    Sample,
    Skip,
    SkipSample,
    UnknownLabel,
    find_media,
    map_label,
    need,
    pick_evenly,
    read_csv,
    sorted_images,
    split_label,
)
from emoreason.data_builders.frames import extract_frames
from emoreason.errors import EmoreasonError

# Single-labelled annotation: 1..7 -> canonical label.
LABEL_MAP: dict[int | str, str] = {
    1: "happiness",
    2: "sadness",
    3: "neutral",
    4: "anger",
    5: "surprise",
    6: "disgust",
    7: "fear",
}
LICENSE = (
    "DFEW is available for non-commercial research only, under the DFEW license agreement "
    "(https://dfew-dataset.github.io). The clips come from movies; do not redistribute them."
)
CITATION = (
    "Jiang, X., Zong, Y., Zheng, W., Tang, C., Xia, W., Lu, C., Liu, J. DFEW: A Large-Scale Database for "
    "Recognizing Dynamic Facial Expressions in the Wild. ACM Multimedia 2020."
)
FRAME_DIRS = ("clip_224x224", "clip_224x224_16f")


def clip_frames(folders: list[Path], video: Path | None, count: int, source: str, clip: str):  # noqa: ANN201 - returns Sample.make_images
    """``make_images`` for a clip: pick frames from the first existing frame folder, else decode ``video``."""

    def make(out: Path) -> tuple[list[str], list[int]]:
        for folder in folders:
            if folder.is_dir():
                frames = sorted_images(folder)
                if frames:
                    picked = pick_evenly(list(enumerate(frames)), count)
                    return [str(p) for _, p in picked], [i for i, _ in picked]
        if video is None:
            raise SkipSample("missing file", f"no frames or video for clip {clip}")
        return extract_frames(video, out / "images" / source / clip, clip, count=count)

    return make


def iter_samples(ctx: Context) -> Iterator[Sample | Skip]:
    split_dir = need(ctx.root / "EmoLabel_DataSplit", "the DFEW EmoLabel_DataSplit folder")
    fold = int(ctx.options.get("fold", 1))
    if fold not in range(1, 6):
        raise EmoreasonError(f"DFEW has folds 1..5, not {fold}")
    clips = ctx.root / "Clip"
    for split, folder in (("train", "train(single-labeled)"), ("test", "test(single-labeled)")):
        path = need(split_dir / folder / f"set_{fold}.csv", f"the DFEW fold {fold} {split} list")
        for line, row in read_csv(path, ("video_name", "label")):
            try:
                clip = f"{int(float(row['video_name'])):05d}"
            except ValueError as err:
                raise EmoreasonError(f"{path}, line {line}: video_name {row['video_name']!r} is not a number") from err
            try:
                label, labels = split_label(map_label("dfew", LABEL_MAP, row["label"], f"{path}, line {line}"))
            except UnknownLabel as bad:
                yield Skip(f"dfew-{clip}", split, bad.reason, bad.detail)
                continue
            video = find_media(clips / "original", clip)
            yield Sample(
                id=f"dfew-{clip}",
                split=split,
                label=label,
                labels=labels,
                make_images=clip_frames(
                    [clips / d / clip for d in FRAME_DIRS], video, ctx.frames_per_clip, "dfew", clip
                ),
                video=str(video or ""),
                meta={"subject": None, "raw_label": row["label"], "fold": fold},
            )
