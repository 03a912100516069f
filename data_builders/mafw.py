"""MAFW (Multi-modal Affective database for dynamic FER in the Wild): 10,045 clips, 11 single-expression classes.

Official layout (https://github.com/MAFW-database/MAFW README and the full release, Liu et al. ACM MM 2022)::

    <root>/data/clips/00001.mp4 ...                       (the README's "clips" folder; <root>/clips also works)
    <root>/Train & Test Set/single/no_caption/set_1/train.txt   "00001.mp4 anger"  (5 folds, set_1..set_5)
    <root>/Train & Test Set/single/no_caption/set_1/test.txt
    <root>/Labels/single_label.txt (or caption-label/single_label.txt)   the README's label file:
        "03747.mp4<TAB>anger<TAB><br>Chinese description<TAB><br> English description"

With the fold files present, the fold ``options["fold"]`` (default 1) gives the ``train``/``test`` splits;
otherwise ``single_label.txt`` is read as one ``train`` split, and its English description is kept as the
corpus's explanation (``meta.explanation``).

Classes: anger, disgust, fear, happiness, neutral, sadness, surprise, contempt, anxiety, helplessness,
disappointment. The first eight are canonical labels; anxiety, helplessness and disappointment are not (they
are ``labels.EXTENDED_LABELS``). For those, ``label`` is None and ``labels`` holds the MAFW class, so no MAFW
class is forced onto a different emotion; prompts use the open label set. Frames: ``--frames-per-clip`` frames
spread evenly over the clip (from ``data/frames/<clip>/`` when the user extracted them, else decoded).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from emoreason.data_builders.base import Context, Sample, Skip, UnknownLabel, find_media, map_label, split_label
from emoreason.data_builders.dfew import clip_frames
from emoreason.errors import EmoreasonError

# single_label.txt / set_N/{train,test}.txt class names; the last three are labels.EXTENDED_LABELS.
LABEL_MAP: dict[int | str, str] = {
    "anger": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happiness",
    "neutral": "neutral",
    "sadness": "sadness",
    "surprise": "surprise",
    "contempt": "contempt",
    "anxiety": "anxiety",
    "helplessness": "helplessness",
    "disappointment": "disappointment",
}
LICENSE = (
    "MAFW is available for non-commercial research only, under the MAFW academic agreement "
    "(https://mafw-database.github.io/MAFW/). Do not reproduce or distribute any portion of the clips."
)
CITATION = (
    "Liu, Y., Dai, W., Feng, C., Wang, W., Yin, G., Zeng, J., Shan, S. MAFW: A Large-scale, Multi-modal, Compound "
    "Affective Database for Dynamic Facial Expression Recognition in the Wild. ACM Multimedia 2022."
)
FOLDS = Path("Train & Test Set") / "single" / "no_caption"
LABEL_FILES = (
    Path("Labels") / "single_label.txt",
    Path("caption-label") / "single_label.txt",
    Path("single_label.txt"),
)


def _clips_dir(root: Path) -> Path:
    for candidate in (root / "data" / "clips", root / "clips"):
        if candidate.is_dir():
            return candidate
    return root / "data" / "clips"


def _parse(path: Path) -> Iterator[tuple[int, str, str, str]]:
    """(line, clip file, class, English description) per line of a MAFW label file."""
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        match = re.match(r"\s*(\S+\.mp4)\s+(\S+)\s*(.*)$", line, re.I)
        if not match:
            raise EmoreasonError(f"{path}, line {number}: expected '<clip>.mp4 <class> [description]', got {line!r}")
        rest = match.group(3)
        english = rest.split("<br>")[-1].strip() if "<br>" in rest else ""
        yield number, match.group(1), match.group(2), english


def iter_samples(ctx: Context) -> Iterator[Sample | Skip]:
    fold = int(ctx.options.get("fold", 1))
    fold_dir = ctx.root / FOLDS / f"set_{fold}"
    if fold_dir.is_dir():
        lists = [("train", fold_dir / "train.txt"), ("test", fold_dir / "test.txt")]
    else:
        found = [ctx.root / p for p in LABEL_FILES if (ctx.root / p).is_file()]
        if not found:
            raise EmoreasonError(
                f"{ctx.root}: not a MAFW layout; expected '{FOLDS / 'set_1' / 'train.txt'}' "
                "or 'Labels/single_label.txt'"
            )
        lists = [("train", found[0])]
    clips = _clips_dir(ctx.root)
    for split, path in lists:
        if not path.is_file():
            raise EmoreasonError(f"{path} not found: the MAFW fold {fold} {split} list")
        for number, name, value, english in _parse(path):
            try:
                label, labels = split_label(map_label("mafw", LABEL_MAP, value, f"{path}, line {number}"))
            except UnknownLabel as bad:
                yield Skip(f"mafw-{Path(name).stem}", split, bad.reason, bad.detail)
                continue
            clip = Path(name).stem
            video = find_media(clips, clip)
            frame_dirs = [ctx.root / "data" / "frames" / clip]
            yield Sample(
                id=f"mafw-{clip}",
                split=split,
                label=label,
                labels=labels,
                make_images=clip_frames(frame_dirs, video or clips / name, ctx.frames_per_clip, "mafw", clip),
                video=str(video or clips / name),
                explanation=english,
                meta={"subject": None, "raw_label": value, "fold": fold if fold_dir.is_dir() else None},
            )
