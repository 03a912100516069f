"""Frames out of video clips for the video corpora (DFEW, MAFW, DISFA, EMER, manifest videos).

Decoding streams through PyAV one frame at a time (never a whole clip in memory) and writes only the frames asked
for, as JPEG files under the build's output folder. Frames already written by an earlier (interrupted) run are
reused, so a resumed build does not decode them again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from emoreason.data_builders.base import SkipSample, pick_evenly
from emoreason.errors import about
from emoreason.io import atomic_path

logger = logging.getLogger(__name__)


def _count_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        return sum(1 for _ in container.decode(stream))


def extract_frames(
    video: Path, out_dir: Path, stem: str, indices: list[int] | None = None, count: int = 4
) -> tuple[list[str], list[int]]:
    """Write frames of ``video`` as ``out_dir/<stem>_<index>.jpg``: the given 0-based ``indices``, or ``count``
    frames spread evenly over the clip. Returns (paths, indices) of the frames written. Unreadable -> SkipSample."""
    if not video.is_file():
        raise SkipSample("missing file", str(video))
    try:
        import av

        if indices is None:
            total = _count_frames(video)
            if total == 0:
                raise SkipSample("corrupt video", f"{video}: no video frames")
            indices = pick_evenly(list(range(total)), count)
        wanted = sorted(set(indices))
        targets = {i: out_dir / f"{stem}_{i:06d}.jpg" for i in wanted}
        todo = {i for i, p in targets.items() if not p.is_file()}
        if todo:
            out_dir.mkdir(parents=True, exist_ok=True)
            last = max(todo)
            with av.open(str(video)) as container:
                stream = container.streams.video[0]
                for n, frame in enumerate(container.decode(stream)):
                    if n in todo:
                        with atomic_path(targets[n]) as tmp:
                            frame.to_image().convert("RGB").save(tmp, format="JPEG", quality=92)
                    if n >= last:
                        break
        found = [i for i in wanted if targets[i].is_file()]
    except SkipSample:
        raise
    except Exception as err:  # noqa: BLE001 - PyAV raises many error types for broken files
        raise SkipSample("corrupt video", about(video, err)) from err
    if not found:
        raise SkipSample("corrupt video", f"{video}: none of frames {wanted[:5]} could be decoded")
    return [str(targets[i]) for i in found], found
