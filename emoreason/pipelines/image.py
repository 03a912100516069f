"""The agent for still images: path -> image -> faces -> AUs -> Evidence -> reasoner -> ImageResult.

``analyze_paths`` streams one :class:`~emoreason.schema.ImageResult` per input path, in input order, and never
raises for a per-path problem (bad file, no face, a reasoner error): those become ``status`` ``error`` or
``no_face`` with a one-line ``error``. Faces from several images are sent to the reasoner in one batch.
The video agent lives in ``emoreason.pipelines.video``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from emoreason import facs
from emoreason.errors import EmoreasonError
from emoreason.io import atomic_path
from emoreason.reasoning.base import needs_images
from emoreason.schema import Evidence, Face, FaceResult, ImageResult

logger = logging.getLogger(__name__)

AU_SOURCES = ("blendshapes", "openface")
AuSource = Literal["blendshapes", "openface"]


@dataclass
class ImageOptions:
    """How to perceive one image (what ``emoreason analyze`` exposes as flags)."""

    au_source: AuSource = "blendshapes"
    openface_csv: str | os.PathLike[str] | None = None  # one CSV, or a folder of <image stem>.csv files
    crops_dir: str | os.PathLike[str] | None = None
    face_model: str | os.PathLike[str] | None = None
    # the face expression model (perception.expression.model_for): None = the shipped one, "none" = rules only
    expression_model: str | os.PathLike[str] | None = None
    num_faces: int = 10
    label_set: str = "compound"
    min_confidence: float = 0.75  # OpenFace row confidence


@dataclass
class _Pending:
    result: ImageResult
    faces: list[Face] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)


def _openface_csv_for(path: Path, openface_csv: str | os.PathLike[str] | None) -> Path:
    if openface_csv is None:
        raise EmoreasonError("--au-source openface needs --openface-csv FILE (or a folder of <image>.csv files)")
    source = Path(openface_csv)
    if source.is_dir():
        candidate = source / f"{path.stem}.csv"
        if not candidate.is_file():
            raise EmoreasonError(f"no OpenFace CSV for {path.name} in {source} (expected {candidate.name})")
        return candidate
    return source


def _openface_aus(path: Path, faces: list[Face], options: ImageOptions) -> None:
    """Give each detected face the AUs of the OpenFace row that matches it (by position, else by order)."""
    from emoreason.perception.openface import read_openface_rows

    rows = read_openface_rows(_openface_csv_for(path, options.openface_csv), options.min_confidence)
    if rows:
        first = min(r.frame for r in rows)
        frames = len({r.frame for r in rows})
        if frames > 1:  # a video's CSV given for a photo: say which frame is used, not silently the first
            logger.warning(
                "%s: its OpenFace CSV has %d frames (a video's?); the photo takes frame %d's AUs. Run OpenFace's "
                "FaceLandmarkImg on the photo for its own CSV", path, frames, first,
            )
        rows = [r for r in rows if r.frame == first]  # a still image is one frame; use the first one written
    by_order = sorted(rows, key=lambda r: r.face_id) if not any(r.center for r in rows) else []
    unused = [r for r in rows if r.center is not None]
    for index, face in enumerate(faces):
        match = None
        if by_order:
            match = by_order[index] if index < len(by_order) else None
        elif unused:
            x, y, w, h = face.box
            nearest = min(unused, key=lambda r: (r.center[0] - x - w / 2) ** 2 + (r.center[1] - y - h / 2) ** 2)
            cx, cy = nearest.center  # type: ignore[misc]
            if x <= cx <= x + w and y <= cy <= y + h:
                match = nearest
                unused.remove(nearest)
        if match is not None:
            face.aus = dict(match.aus)
            face.uncertain_aus = []  # the uncertainty was between landmarks and blendshapes, now replaced
        else:
            logger.warning("%s: face %d has no OpenFace row; keeping its landmark and blendshape AUs", path, index)


def _save_crop(crop: Any, crops_dir: Path, name: str) -> None:
    crops_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(crops_dir / name) as tmp:
        crop.save(tmp, format="PNG")


def find_faces(pixels: Any, options: ImageOptions, models: tuple[Any, Any] | None = None) -> list[Face]:
    """The faces of a photo, found by the face detector and read by the landmarker on their aligned crops
    (:func:`~emoreason.perception.faces.detect_faces`; ``models``: a detector and landmarker of the calling
    thread's own, else the process-wide ones): what the read-ahead threads do for the next photos while this one
    gets its AUs, face model and reasoning."""
    from emoreason.perception.faces import detect_faces

    return detect_faces(pixels, num_faces=options.num_faces, model_path=options.face_model, models=models)


# read-ahead threads for a batch of photos (map_ahead), each searching with a process-wide detector and landmarker
# of its own (faces.search_models), for batches of at least PARALLEL_FROM paths
SEARCH_THREADS = 2
PARALLEL_FROM = 3


def perceive_image(
    path: str | os.PathLike[str],
    options: ImageOptions | None = None,
    with_crops: bool = False,
    image: Any = None,
    found: list[Face] | None = None,
) -> list[Face]:
    """Faces of one image file with AUs (and aligned crops when asked), no reasoning. Raises EmoreasonError.

    ``image`` is the already-loaded picture (``images.load_image(path)``), when the caller prefetched it, and
    ``found`` its :func:`find_faces` faces, when the caller ran that too (the AUs and everything after them
    happen here either way).
    """
    from emoreason.perception import expression
    from emoreason.perception.crops import aligned_crop
    from emoreason.perception.images import as_array, load_image
    from emoreason.perception.readings import read_face

    options = options or ImageOptions()
    if options.au_source not in AU_SOURCES:
        raise EmoreasonError(f"unknown AU source {options.au_source!r}; choose one of: {', '.join(AU_SOURCES)}")
    path = Path(path)
    image = image if image is not None else load_image(path)
    pixels = as_array(image)  # once per image: detection, the landmarker and the texture cue all read this array
    faces = found if found is not None else find_faces(pixels, options)
    for face in faces:
        read_face(face, pixels)  # fused AUs, uncertain AUs and quality flags (bounds from the image)
    if options.au_source == "openface" and faces:
        _openface_aus(path, faces, options)
    model = expression.model_for(options.expression_model)
    if model is not None:
        if not faces and expression.looks_like_face_crop(pixels):
            faces = [expression.crop_face(pixels)]  # a thumbnail crop the landmarker missed is still a face
        expression.read_expressions(model, pixels, faces)
    if with_crops or options.crops_dir:
        for index, face in enumerate(faces):
            if expression.has_landmarks(face):
                face.crop = aligned_crop(image, face.landmarks)
            else:  # a crop without landmarks: the whole image is the face
                from PIL import Image

                face.crop = Image.fromarray(pixels).convert("RGB")
            if options.crops_dir:
                _save_crop(face.crop, Path(options.crops_dir), f"{path.stem}_face{index + 1}.png")
    return faces


def face_evidence(path: Path, index: int, face: Face, label_set: str, fusion: dict | None = None) -> Evidence:
    """The Evidence for one face of a photo: its crop (when made), AUs and AU text, the face model's probabilities
    and the fusion weights of the model's card (``fusion``)."""
    return Evidence(
        id=f"{path}#face{index}",
        images=[face.crop] if face.crop is not None else [],
        aus=face.aus,
        au_text=facs.au_text(face.aus, uncertain=face.uncertain_aus),
        quality=list(face.quality),
        quality_text=face.quality_text,
        uncertain_aus=list(face.uncertain_aus),
        expression=dict(face.expression),
        fusion=dict(fusion or {}),
        label_set=label_set,
        meta={"path": str(path), "face_index": index, "box": list(face.box)},
    )


def _prefetch(
    paths: Iterable[str | os.PathLike[str]], options: ImageOptions
) -> Iterator[tuple[Any, Any, list[Face] | None]]:
    """(path, loaded RGB array or the exception loading raised, its :func:`find_faces` faces or None), a few files
    in advance in ``SEARCH_THREADS`` threads (:func:`emoreason.pipelines.read_ahead.map_ahead`), each with a
    detector and landmarker of its own (:func:`emoreason.perception.faces.search_models`). Pillow's decoders and
    MediaPipe release the GIL, so on two cores the next photos are decoded, searched and read by the landmarker
    while this one gets its AUs, face model and reasoning. A search that fails is left to the consumer (None),
    which runs it again and reports the error for that path."""
    from emoreason.perception import faces
    from emoreason.perception.images import as_array, load_image
    from emoreason.pipelines.read_ahead import map_ahead

    threads = SEARCH_THREADS if not hasattr(paths, "__len__") or len(paths) >= PARALLEL_FROM else 1  # type: ignore

    def load(path: Any, worker: int) -> tuple[Any, Any, list[Face] | None]:
        try:
            pixels = as_array(load_image(path))  # the pixel copy MediaPipe needs is made here, off the main thread
        except Exception as err:  # noqa: BLE001 - handed to the consumer, which reports it per path
            return path, err, None
        try:
            return path, pixels, find_faces(pixels, options, faces.search_models(options.face_model, worker))
        except Exception:  # noqa: BLE001 - the consumer runs it again and reports the error itself
            return path, pixels, None

    yield from map_ahead(load, paths, workers=threads, ahead=threads)


def _start(
    path: str | os.PathLike[str],
    reasoner: Any,
    options: ImageOptions,
    image: Any = None,
    found: list[Face] | None = None,
) -> _Pending:
    """Perceive one path; every failure becomes a result with status error (the batch goes on)."""
    result = ImageResult(path=str(path), status="ok")
    try:
        if isinstance(image, BaseException):
            raise image
        faces = perceive_image(path, options, with_crops=needs_images(reasoner), image=image, found=found)
    except EmoreasonError as err:
        result.status, result.error = "error", str(err)
        return _Pending(result)
    except Exception as err:  # noqa: BLE001 - one broken file must not stop a batch
        logger.debug("unexpected error on %s", path, exc_info=True)
        result.status, result.error = "error", f"{type(err).__name__}: {err}"
        return _Pending(result)
    if not faces:
        result.status = "no_face"
        return _Pending(result)
    from emoreason.perception.expression import fusion_card, model_for

    fusion = fusion_card(model_for(options.expression_model))
    evidence = [face_evidence(Path(path), i, face, options.label_set, fusion) for i, face in enumerate(faces)]
    return _Pending(result, faces, evidence)


def _finish(batch: list[_Pending], reasoner: Any) -> list[ImageResult]:
    """Reason over every face of the batch in one call (``reason_each``) and fill the results; an image one of
    whose faces the backend failed on is an error, the others are kept."""
    from emoreason.reasoning.base import reason_each

    evidence = [ev for item in batch for ev in item.evidence]
    answers = iter(reason_each(reasoner, evidence, batch_size=max(1, len(evidence))))
    for item in batch:
        replies = [next(answers) for _ in item.faces]
        failed = next((r for r in replies if isinstance(r, Exception)), None)
        if failed is not None:
            kind = type(failed).__name__
            message = str(failed) if isinstance(failed, EmoreasonError) else f"reasoner failed: {kind}: {failed}"
            item.result.status, item.result.error = "error", message
            continue
        for face, reasoning in zip(item.faces, replies, strict=True):
            item.result.faces.append(
                FaceResult(
                    box=face.box,
                    aus=face.aus,
                    label=reasoning.label,
                    scores=reasoning.scores,
                    head_pose=face.head_pose,
                    quality=list(face.quality),
                    quality_text=face.quality_text,
                    uncertain_aus=list(face.uncertain_aus),
                    expression=dict(face.expression),
                    raw=reasoning.raw,
                    format_ok=reasoning.format_ok,
                    sections=reasoning.sections,
                )
            )
    return [item.result for item in batch]


def analyze_paths(
    paths: Iterable[str | os.PathLike[str]],
    reasoner: Any,
    options: ImageOptions | None = None,
    batch_size: int = 16,
    **settings: Any,
) -> Iterator[ImageResult]:
    """One ImageResult per path, in order, streamed; faces go to the reasoner ``batch_size`` at a time.

    ``settings`` are ImageOptions fields (``au_source="openface", openface_csv=..., crops_dir=...``).
    """
    options = options or ImageOptions(**settings)
    batch: list[_Pending] = []
    for path, image, found in _prefetch(paths, options):
        batch.append(_start(path, reasoner, options, image, found))
        if sum(len(item.evidence) for item in batch) >= batch_size:
            yield from _finish(batch, reasoner)
            batch = []
    if batch:
        yield from _finish(batch, reasoner)


def analyze_image(
    path: str | os.PathLike[str], reasoner: Any, options: ImageOptions | None = None, **settings: Any
) -> ImageResult:
    """Analyze one image file; never raises for a bad file (see ``ImageResult.status``)."""
    return next(analyze_paths([path], reasoner, options, **settings))


def result_record(result: ImageResult) -> dict[str, Any]:
    """The JSON object for one image (``analyze --json`` and the HTTP API): path, status, error and
    faces[box (whole pixels), aus, label, scores, head_pose, raw, format_ok]."""
    record = result.model_dump(mode="json")
    for face in record["faces"]:
        face["box"] = [round(v) for v in face["box"]]
    return record
