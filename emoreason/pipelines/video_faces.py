"""A video's faces: one streaming pass over the sampled frames with a VIDEO-mode landmarker, tracks, an AU series with
a rule label per frame, and the peak crop of each (track, window, label) kept as JPEG bytes.
:func:`emoreason.pipelines.video.perceive_video` calls :func:`faces_pass`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emoreason.perception import media
from emoreason.perception.tracks import AUSeries, FaceTracker, expressiveness
from emoreason.pipelines.read_ahead import read_ahead
from emoreason.pipelines.windows import frame_label

if TYPE_CHECKING:
    from emoreason.pipelines.video import VideoOptions


def _box_crop(image: Any, face: Any, size: int = 224) -> Any:
    """A square crop around the face box with a 25% margin (for a face without its mesh landmarks)."""
    from PIL import Image

    x, y, w, h = face.box
    side = max(w, h) * 1.25
    cx, cy = x + w / 2, y + h / 2
    box = (int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2))
    return Image.fromarray(image).crop(box).resize((size, size), Image.BILINEAR)


# The second pass costs a landmarker run per face and frame. In video the VIDEO-mode landmarker already places each
# face's region from its landmarks in the previous frame (what the second pass does for a still), so only tiny
# faces, under a tenth of the frame's long side (64 px at 640), get it.
VIDEO_REFINE_BELOW = 0.1


def _face_backend(options: VideoOptions) -> tuple[Any, Any, Any, Any]:
    """(landmarker in VIDEO mode, faces_from_result, reading function, crop function) from the image perception.

    The reading function is ``readings.read_face`` after the second pass (``faces.refine_face``) for faces that are
    small in the frame (``VIDEO_REFINE_BELOW``): a large face already fills the landmarker's own crop.
    """
    from emoreason.perception import faces
    from emoreason.perception.crops import aligned_crop
    from emoreason.perception.readings import read_face

    def read(image: Any, face: Any) -> Any:
        # the IMAGE-mode landmarker of the second pass is only made once a tiny face needs it
        faces.refine_faces(image, [face], options.face_model, below=VIDEO_REFINE_BELOW)
        return read_face(face, image)

    def crop_fn(image: Any, face: Any, size: int) -> Any:
        return (
            aligned_crop(image, face.landmarks, size=size)
            if len(face.landmarks) >= 468
            else _box_crop(image, face, size)
        )

    landmarker = faces.create_landmarker(mode="video", num_faces=options.num_faces, model_path=options.face_model)
    return landmarker, faces.faces_from_result, read, crop_fn


def _jpeg(image: Any) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def faces_pass(
    path: Path, options: VideoOptions, segments: list[tuple[float, float]], notes: list[str]
) -> tuple[dict[int, AUSeries], dict[tuple[int, int, str], tuple[float, float, bytes]]]:
    """One streaming pass over sampled frames: tracks, AU series with a rule label per frame, and the peak crop
    per (track, segment, frame label), so a window that changes expression has a crop for each part.

    The best frame of each open key is held by reference and cropped once, when its segment closes, so only a
    handful of frames are ever alive.
    """
    from emoreason.perception import expression
    from emoreason.perception.faces import detect

    landmarker, faces_from_result, read, crop_fn = _face_backend(options)
    model = expression.model_for(options.expression_model)
    fusion = expression.fusion_card(model)
    tracker = FaceTracker(max_miss=options.max_miss)
    series: dict[int, AUSeries] = {}
    peaks: dict[tuple[int, int, str], tuple[float, float, bytes]] = {}  # (track, seg, label) -> (score, t, jpeg)
    open_best: dict[tuple[int, int, str], tuple[float, float, Any, Any]] = {}  # -> (score, time, rgb, face)
    report = media.DecodeReport()
    seg_i = 0

    def close(until: float) -> None:
        for key in [k for k in open_best if segments[k[1]][1] <= until]:
            score, t, image, face = open_best.pop(key)
            peaks[key] = (score, t, _jpeg(crop_fn(image, face, size=options.crop_size)))

    def detected(frames: Iterator[media.Frame]) -> Iterator[tuple[media.Frame, list[Any]]]:
        last_ms = -1
        for frame in frames:
            h, w = frame.image.shape[:2]
            ms = max(last_ms + 1, int(round(frame.time * 1000)))  # VIDEO mode needs rising timestamps
            last_ms = ms
            yield frame, faces_from_result(detect(landmarker, frame.image, ms), w, h)

    def read_frame(frame: media.Frame, found: list[Any]) -> None:
        nonlocal seg_i
        tracker.update(found, frame.time)
        close(frame.time)
        while seg_i < len(segments) and segments[seg_i][1] <= frame.time:
            seg_i += 1
        active = []  # segments (sorted by start; overlapping cues allowed) that contain this frame
        for i in range(seg_i, len(segments)):
            if segments[i][0] > frame.time:
                break
            if frame.time < segments[i][1]:
                active.append(i)
        for face in found:
            if not face.aus:
                read(frame.image, face)
        if model is not None:
            expression.read_expressions(model, frame.image, [f for f in found if expression.has_landmarks(f)])
        for face in found:
            aus = face.aus
            tid = int(face.track_id)  # type: ignore[arg-type]
            quality = (tuple(face.quality), face.quality_text, tuple(face.uncertain_aus))
            label = frame_label(aus, options.label_set, quality[2], face.expression, fusion)
            series.setdefault(tid, AUSeries(tid)).add(frame.time, aus, face.box, quality, label, face.expression)
            score = expressiveness(aus)
            for si in active:
                best = open_best.get((tid, si, label))
                if best is None or score > best[0]:
                    open_best[(tid, si, label)] = (score, frame.time, frame.image, face)

    # three stages, each in its own thread: decoding, the landmarker, and the reading (tracks, AUs, labels, crops).
    # PyAV and MediaPipe work without the GIL, so the stages overlap on two cores; the landmarker is called from
    # one thread only, in frame order, and both helper threads have stopped before it is closed.
    frames = media.iter_frames(path, options.fps, max_side=options.max_side, report=report)
    try:
        with closing(read_ahead(frames)) as decoded, closing(read_ahead(detected(decoded), 2)) as stream:
            for frame, found in stream:
                read_frame(frame, found)
        close(float("inf"))
    finally:
        landmarker.close()
    notes += report.notes
    return series, peaks
