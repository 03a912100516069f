"""AU attachment: where a row's ``aus`` come from (``--au-source``).

- ``dataset``: the corpus's own coding (CK+ FACS files, DISFA intensities, BP4D occurrence, a manifest's ``aus``);
- ``openface``: an OpenFace 2.0 FeatureExtraction CSV per image in ``--openface DIR``, named after the image
  (``<DIR>/<image stem>.csv``, OpenFace's own naming), read by ``perception.openface``;
- ``blendshapes``: the built-in estimator (MediaPipe blendshapes -> AUs) run on each of the row's images through
  ``pipelines.image.perceive_image``; the row's face is chosen by the rule in ``data_builders.faces`` (aligned
  crops are the face; else the corpus's face box; else the largest face near the centre). A row with no face in
  any image is skipped (``no face``), never given a CoT;
- ``none``: no AUs (the CoT then rests on the label alone);
- ``auto`` (default): per row, the corpus's own AUs when it has them, else ``openface`` when ``--openface`` is
  given, else ``blendshapes``.

For several frames (video rows) the AUs are the per-AU maximum over the frames, the clip's apex. The face facts
(``face_count``, ``face_rule``, ``chosen_box``, ``ambiguous_face``, and the face's ``quality`` flags,
``quality_text`` and ``uncertain_aus``) go to ``meta``; an OpenFace CSV with no successful frame is skipped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from emoreason.data_builders.base import SkipSample
from emoreason.errors import EmoreasonError
from emoreason.facs import coerce_aus

logger = logging.getLogger(__name__)

AU_SOURCES = ("auto", "dataset", "openface", "blendshapes", "none")


def resolve(au_source: str, has_aus: bool, openface: Path | None) -> str:
    """The concrete AU source for a run; checks the options that go with it."""
    if au_source not in AU_SOURCES:
        raise EmoreasonError(f"unknown --au-source {au_source!r}; choose one of: {', '.join(AU_SOURCES)}")
    if au_source == "auto" and has_aus:
        return "dataset"
    if au_source == "openface" and (openface is None or not Path(openface).is_dir()):
        raise EmoreasonError("--au-source openface needs --openface DIR, a folder of OpenFace CSVs named after images")
    return au_source


def _apex(frames: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for aus in frames:
        for key, value in aus.items():
            out[key] = max(out.get(key, 0.0), value)
    return out


def openface_aus(image: str, folder: Path) -> dict[str, float] | None:
    """AUs of ``image`` from ``folder/<stem>.csv`` (the face with the highest OpenFace confidence), or None without
    a CSV. A CSV with no successful frame raises SkipSample."""
    csv_path = Path(folder) / f"{Path(image).stem}.csv"
    if not csv_path.is_file():
        return None
    try:
        from emoreason.perception.openface import read_openface_rows
    except ImportError as err:
        raise EmoreasonError(f"OpenFace CSV import is not available in this install ({err})") from err
    rows = read_openface_rows(csv_path)
    if not rows:
        raise SkipSample("no successful OpenFace frame", str(csv_path))
    return coerce_aus(max(rows, key=lambda r: r.confidence).aus)


def blendshape_faces(images: list[str], meta: dict[str, Any], aligned: bool) -> list[dict[str, float]]:
    """AUs of the chosen face in each image that has one; records the face facts in ``meta``. No face in any
    image raises SkipSample("no face"), an unreadable image SkipSample("corrupt image")."""
    try:
        from emoreason.data_builders.faces import read_face
    except ImportError as err:
        raise EmoreasonError(
            f"the built-in blendshape AU estimator is not available ({err}); use --au-source openface or none"
        ) from err
    found, choices = [], []
    for image in images:
        try:
            choice = read_face(image, meta.get("face_box"), aligned)
        except EmoreasonError as err:
            raise SkipSample("corrupt image", str(err)) from err
        if choice.face is not None:
            found.append(coerce_aus(choice.face.aus))
            choices.append(choice)
    if not choices:
        raise SkipSample("no face", images[0] if len(images) == 1 else f"{len(images)} frames")
    first = choices[0]
    flags = sorted({flag for c in choices for flag in c.face.quality})
    meta.update({
        "face_count": max(c.count for c in choices),
        "face_rule": first.rule,
        "chosen_box": [round(v, 1) for v in first.box],
        "ambiguous_face": sum(c.ambiguous for c in choices) * 2 > len(choices),
        "quality": flags,
        "quality_text": " ".join(dict.fromkeys(c.face.quality_text for c in choices if c.face.quality_text)),
        "uncertain_aus": sorted({au for c in choices for au in c.face.uncertain_aus}),
        "expression": _mean_expression([c.face.expression for c in choices]),
    })  # fmt: skip
    return found


def _mean_expression(readings: list[dict[str, float]]) -> dict[str, float]:
    """The face model's probabilities averaged over a row's images ({} where it did not run)."""
    readings = [r for r in readings if r]
    if not readings:
        return {}
    return {label: round(sum(r.get(label, 0.0) for r in readings) / len(readings), 4) for label in readings[0]}


def attach(row: dict[str, Any], source: str, dataset_aus: dict[str, float] | None, openface: Path | None,
           aligned: bool = False) -> str:  # fmt: skip
    """Set ``row["aus"]`` from ``source``; returns what was used ("dataset", "openface", ..., or "none: <why>")."""
    images = list(row.get("images") or [])
    if source == "auto":  # per row: the corpus's own AUs when it has them, else an estimator
        source = "dataset" if dataset_aus is not None else ("openface" if openface else "blendshapes")
    if source == "dataset":
        row["aus"] = dict(dataset_aus) if dataset_aus is not None else None
        return "dataset" if dataset_aus is not None else "none: the corpus codes no AUs for this item"
    if source == "none" or not images:
        row["aus"] = None
        return "none" if source == "none" else "none: no image"
    if source == "blendshapes":
        row["aus"] = _apex(blendshape_faces(images, row["meta"], aligned))
        return source
    found = [aus for aus in (openface_aus(image, openface) for image in images) if aus is not None]  # type: ignore[arg-type]
    if not found:
        row["aus"] = None
        return "none: no OpenFace CSV"
    row["aus"] = _apex(found)
    return source
