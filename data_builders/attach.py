"""AU attachment: where a row's ``aus`` come from (``--au-source``).

- ``dataset``: the corpus's own coding (CK+ FACS files, DISFA intensities, BP4D occurrence, a manifest's ``aus``);
- ``openface``: an OpenFace 2.0 FeatureExtraction CSV per image in ``--openface DIR``, named after the image
  (``<DIR>/<image stem>.csv``, OpenFace's own naming), read by ``perception.openface``;
- ``blendshapes``: the built-in estimator (MediaPipe blendshapes -> AUs) run on each of the row's images through
  ``agent.perceive_image``; the largest face is used;
- ``none``: no AUs (the CoT then rests on the label alone);
- ``auto`` (default): per row, the corpus's own AUs when it has them, else ``openface`` when ``--openface`` is
  given, else ``blendshapes``.

For several frames (video rows) the AUs are the per-AU maximum over the frames, the clip's apex.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

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
    """AUs of ``image`` from ``folder/<stem>.csv`` (the face with the highest OpenFace confidence), or None."""
    csv_path = Path(folder) / f"{Path(image).stem}.csv"
    if not csv_path.is_file():
        return None
    try:
        from emoreason.perception.openface import read_openface_rows
    except ImportError as err:
        raise EmoreasonError(f"OpenFace CSV import is not available in this install ({err})") from err
    rows = read_openface_rows(csv_path)
    if not rows:
        return {}
    return coerce_aus(max(rows, key=lambda r: r.confidence).aus)


def blendshape_aus(image: str) -> dict[str, float] | None:
    """AUs of the largest face in ``image`` from the built-in blendshape estimator, or None with no face."""
    try:
        from emoreason.agent import perceive_image
    except ImportError as err:
        raise EmoreasonError(
            f"the built-in blendshape AU estimator is not available ({err}); use --au-source openface or none"
        ) from err
    faces = perceive_image(image)
    if not faces:
        return None
    face = max(faces, key=lambda f: f.box[2] * f.box[3])
    return coerce_aus(face.aus)


def attach(row: dict[str, Any], source: str, dataset_aus: dict[str, float] | None, openface: Path | None) -> str:
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
    found = []
    for image in images:
        aus = openface_aus(image, openface) if source == "openface" else blendshape_aus(image)  # type: ignore[arg-type]
        if aus is not None:
            found.append(aus)
    if not found:
        row["aus"] = None
        return "none: no OpenFace CSV" if source == "openface" else "none: no face found"
    row["aus"] = _apex(found)
    return source
