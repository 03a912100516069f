"""BP4D-Spontaneous: per-frame AU occurrence codes, no emotion labels.

Official layout (BP4D-Spontaneous release, Zhang et al. 2014; the FERA 2015 AU-occurrence files)::

    <root>/AUCoding/AU_OCC/F001_T1.csv     header row: frame column then AU numbers ("0,1,2,4,5,6,7,9,10,...");
                                           then one row per coded frame: frame number, then 0/1 (9 = not coded)
    <root>/Sequences/F001/T1/0001.jpg ...  2D texture frames (some distributions name the folder 2DFaces;
                                           both are looked in; frames are matched by their number)

Subjects are F001.. / M001..; tasks T1..T8. The AU_OCC layout is the one every BP4D loader reads; the name of
the 2D-frame folder differs between distributions, hence the two candidates.

AUs: occurrence 1 -> ``base.OCCURRENCE_INTENSITY`` (3.0, level C, as occurrence codes carry no intensity),
0 -> 0.0 (coded absent), 9 -> left out (not codable). A row is every ``--frame-stride``-th coded frame.
Labels: BP4D has none. ``label`` is the rule engine's reading of the AUs (``meta.label_source`` = "rules");
``meta.task_emotion`` is the emotion the task was designed to elicit (T1 happiness/amusement, T2 sadness,
T3 surprise/startle, T4 embarrassment, T5 fear/nervousness, T6 physical pain, T7 anger/upset, T8 disgust),
a design target, not an annotation. No official split: everything is ``train``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

from emoreason.data_builders.base import IMAGE_SUFFIXES, OCCURRENCE_INTENSITY, Context, Sample, Skip, need
from emoreason.data_builders.disfa import rule_label
from emoreason.errors import EmoreasonError
from emoreason.facs import au_key

TASK_EMOTIONS = {
    "T1": "happiness/amusement",
    "T2": "sadness",
    "T3": "surprise/startle",
    "T4": "embarrassment",
    "T5": "fear/nervousness",
    "T6": "physical pain",
    "T7": "anger/upset",
    "T8": "disgust",
}
FRAME_DIRS = ("Sequences", "2DFaces")
LICENSE = (
    "BP4D-Spontaneous is available for non-commercial research only, under the agreement with Binghamton "
    "University (http://www.cs.binghamton.edu/~lijun/Research/3DFE/3DFE_Analysis.html). Do not redistribute it."
)
CITATION = (
    "Zhang, X., Yin, L., Cohn, J. F., et al. BP4D-Spontaneous: a high-resolution spontaneous 3D dynamic facial "
    "expression database. Image and Vision Computing 32(10), 2014."
)


def _frame_index(root: Path, subject: str, task: str) -> dict[int, Path]:
    for name in FRAME_DIRS:
        folder = root / name / subject / task
        if folder.is_dir():
            return {
                int(m.group(1)): p
                for p in folder.iterdir()
                if p.suffix.lower() in IMAGE_SUFFIXES and (m := re.search(r"(\d+)$", p.stem))
            }
    return {}


def read_occurrence(path: Path) -> Iterator[tuple[int, int, dict[str, float]]]:
    """(line, frame, AUs) per row of one AU_OCC CSV."""
    with path.open(newline="") as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if not header or len(header) < 2:
            raise EmoreasonError(f"{path}, line 1: expected a header row 'frame,<AU numbers...>'")
        try:
            numbers = [int(float(h)) for h in header[1:]]
        except ValueError as err:
            raise EmoreasonError(f"{path}, line 1: AU columns must be AU numbers, got {header[1:6]}...") from err
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            try:
                frame = int(float(row[0]))
                codes = [int(float(v)) for v in row[1:]]
            except ValueError as err:
                raise EmoreasonError(f"{path}, line {line}: expected numbers, got {row[:4]}...") from err
            pairs = zip(numbers, codes, strict=False)
            aus = {au_key(n): (OCCURRENCE_INTENSITY if c == 1 else 0.0) for n, c in pairs if c in (0, 1)}
            if any(c not in (0, 1, 9) for c in codes):
                raise EmoreasonError(f"{path}, line {line}: occurrence codes must be 0, 1 or 9")
            yield line, frame, aus


def iter_samples(ctx: Context) -> Iterator[Sample | Skip]:
    occ = need(ctx.root / "AUCoding" / "AU_OCC", "the BP4D AUCoding/AU_OCC folder")
    files = sorted(occ.glob("*_T*.csv"))
    if not files:
        raise EmoreasonError(f"{occ}: no AU occurrence files like F001_T1.csv")
    stride = max(1, ctx.frame_stride)
    for path in files:
        subject, task = path.stem.split("_", 1)
        frames = _frame_index(ctx.root, subject, task)
        for i, (_, frame, aus) in enumerate(read_occurrence(path)):
            if i % stride:
                continue
            label = rule_label(aus)
            image = frames.get(frame)
            yield Sample(
                id=f"bp4d-{subject}-{task}-{frame:05d}",
                split="train",
                label=label,
                labels=[label],
                images=[str(image or ctx.root / FRAME_DIRS[0] / subject / task / f"{frame:04d}.jpg")],
                aus=aus,
                meta={
                    "subject": subject,
                    "task": task,
                    "frame": frame,
                    "label_source": "rules",
                    "task_emotion": TASK_EMOTIONS.get(task),
                },
            )
