"""DISFA (Denver Intensity of Spontaneous Facial Action): per-frame AU intensities, no emotion labels.

Official layout (DISFA readme, Mavadati et al. 2013)::

    <root>/ActionUnit_Labels/SN001/SN001_au1.txt     one line per frame: "frame,intensity", e.g. "1,0"
           ... SN001_au2, au4, au5, au6, au9, au12, au15, au17, au20, au25, au26 (12 AUs)
    <root>/Videos_LeftCamera/LeftVideoSN001_comp.avi   (4,845 frames, 20 fps)
    <root>/Videos_RightCamera/RightVideoSN001_comp.avi

Frames are numbered from 1; intensities are 0 (absent) .. 5 (E), the emotreason scale as is. A row is every
``--frame-stride``-th frame of each subject (frames 1, 1+stride, ...), its image decoded from the left-camera
video (``frames.extract_frames``; the label's frame n is the video's 0-based frame n-1).

Labels: DISFA has none. ``label`` is the rule engine's reading of the coded AUs (``rules.score_emotions``
arg-max, basic label set), and ``meta.label_source`` says "rules" so it is never mistaken for a human label.
No official split: everything is ``train``; ``meta.subject`` allows subject-exclusive folds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from emoreason.data_builders.base import Context, Sample, Skip, need
from emoreason.data_builders.frames import extract_frames
from emoreason.errors import EmoreasonError
from emoreason.facs import au_key

AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
LICENSE = (
    "DISFA is available for research purposes only, under the DISFA agreement with the University of Denver "
    "(http://mohammadmahoor.com/disfa/). Do not redistribute the videos or publish subjects' images."
)
CITATION = (
    "Mavadati, S. M., Mahoor, M. H., Bartlett, K., Trinh, P., Cohn, J. F. DISFA: A Spontaneous Facial Action "
    "Intensity Database. IEEE Transactions on Affective Computing 4(2), 2013."
)


def read_intensities(path: Path) -> dict[int, float]:
    """frame -> intensity from one ``SN001_au1.txt``."""
    out: dict[int, float] = {}
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            frame, value = line.replace(" ", "").split(",")[:2]
            out[int(frame)] = float(value)
        except ValueError as err:
            raise EmoreasonError(f"{path}, line {number}: expected 'frame,intensity', got {line.strip()!r}") from err
    return out


def rule_label(aus: dict[str, float]) -> str:
    """The rule engine's basic label for coded AUs (DISFA and BP4D carry no emotion label)."""
    from emoreason.reasoning.rules import score_emotions

    scores = score_emotions(aus, label_set="basic")
    return max(scores, key=lambda k: (scores[k], k == "neutral"))


def _frame_maker(video: Path, subject: str, frame: int, stride: int, frames: list[int]):  # noqa: ANN202
    wanted = [f - 1 for f in frames]  # one decode pass per subject writes all of its sampled frames

    def make(out: Path) -> tuple[list[str], list[int]]:
        paths, found = extract_frames(video, out / "images" / "disfa" / subject, subject, indices=wanted)
        index = dict(zip(found, paths, strict=True))
        if frame - 1 not in index:
            from emoreason.data_builders.base import SkipSample

            raise SkipSample("corrupt video", f"{video}: frame {frame} could not be decoded")
        return [index[frame - 1]], [frame - 1]

    return make


def iter_samples(ctx: Context) -> Iterator[Sample | Skip]:
    labels_dir = need(ctx.root / "ActionUnit_Labels", "the DISFA ActionUnit_Labels folder")
    subjects = sorted(p for p in labels_dir.iterdir() if p.is_dir() and re.fullmatch(r"SN\d+", p.name))
    if not subjects:
        raise EmoreasonError(f"{labels_dir}: no subject folders SN001, SN002, ... found")
    stride = max(1, ctx.frame_stride)
    for folder in subjects:
        subject = folder.name
        per_au = {}
        for au in AUS:
            path = folder / f"{subject}_au{au}.txt"
            if path.is_file():
                per_au[au] = read_intensities(path)
        if not per_au:
            raise EmoreasonError(f"{folder}: no AU label files ({subject}_au1.txt ...)")
        all_frames = sorted(set().union(*(set(v) for v in per_au.values())))
        sampled = all_frames[::stride]
        video = ctx.root / "Videos_LeftCamera" / f"LeftVideo{subject}_comp.avi"
        for frame in sampled:
            aus = {au_key(au): values[frame] for au, values in per_au.items() if frame in values}
            label = rule_label(aus)
            yield Sample(
                id=f"disfa-{subject}-{frame:05d}",
                split="train",
                label=label,
                labels=[label],
                make_images=_frame_maker(video, subject, frame, stride, sampled),
                video=str(video),
                frames=[frame - 1],
                aus=aus,
                meta={"subject": subject, "frame": frame, "label_source": "rules"},
            )
