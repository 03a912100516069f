"""Caption benchmark: real-time factor, decode floor, and peak memory for 1- and 10-minute videos.

    .venv/bin/python benchmarks/caption.py                # 60 s clip for speed; 60 s and 600 s clips for RSS
    .venv/bin/python benchmarks/caption.py --long 180     # a shorter "long" clip for a quick run
    .venv/bin/python benchmarks/caption.py --real clip.mp4  # also peak RSS on a real clip looped to 60 s / 600 s
    .venv/bin/python benchmarks/caption.py --batch 8        # also 8 clips through `emoreason caption`, 1 vs 2 workers

Clips are 640x360, 25 fps, H.264 + AAC, generated with PyAV (the astronaut face moving and changing expression,
with a voiced tone track), cached in --dir. The pipeline is `caption_video` with the rules backend at the default
sampling (4 fps, adaptive; one row with --sampling fixed) and default segmentation; speech runs prosody on the
audio but no whisper (a real whisper model's cost depends on the model and is not what this measures). Each
measurement runs in a fresh subprocess so peak RSS (ru_maxrss) belongs to that clip alone. Targets: >= 20x real
time (issue 24); peak RSS growth <= 5 % from 1 to 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def _child(path: str, mode: str, no_speech: bool, sampling: str = "adaptive") -> None:
    import resource

    from emoreason.perception.media import iter_frames
    from emoreason.pipelines.video import caption_video
    from emoreason.pipelines.video_options import VideoOptions
    from emoreason.reasoning.base import build_reasoner

    os.environ["XDG_CACHE_HOME"] = "/nonexistent"  # no whisper model: speech = prosody only
    walls = []
    for _ in range(2):  # the first run pays for imports and model set-up; the second is a batch's steady state
        start = time.perf_counter()
        if mode == "decode":
            extra = {"frames": sum(1 for _ in iter_frames(path, fps=4.0))}
        else:
            options = VideoOptions(no_speech=no_speech, sampling=sampling)
            result = caption_video(path, build_reasoner("rules"), options)
            assert result.status == "ok", result.error
            extra = {"segments": len(result.segments), "tracks": len(result.tracks)}
        walls.append(time.perf_counter() - start)
        if mode == "pipeline" and os.environ.get("BENCH_ONCE"):
            break
    wall = walls[-1]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "first": walls[0], "rss_mb": rss_mb, **extra}))


def _run(
    path: Path, mode: str, no_speech: bool = False, repeats: int = 3, once: bool = False, sampling: str = "adaptive"
) -> dict:
    """Best of ``repeats`` fresh subprocesses (the machine may be shared); RSS is the largest seen."""
    cmd = [sys.executable, __file__, "--child", str(path), "--mode", mode, "--sampling", sampling]
    cmd += ["--no-speech"] if no_speech else []
    env = {**os.environ, **({"BENCH_ONCE": "1"} if once else {})}
    runs = [
        json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout.splitlines()[-1])
        for _ in range(repeats)
    ]
    best = min(runs, key=lambda r: r["wall"])
    return {**best, "first": min(r["first"] for r in runs), "rss_mb": max(r["rss_mb"] for r in runs)}


def _clip(folder: Path, seconds: int) -> Path:
    from emoreason.testing.media import make_face_video

    path = folder / f"bench_{seconds}s.mp4"
    if not path.exists():
        t = time.perf_counter()
        make_face_video(path.with_suffix(".tmp.mp4"), seconds=seconds, fps=25, audio="tone")
        path.with_suffix(".tmp.mp4").rename(path)
        print(f"generated {path.name} in {time.perf_counter() - t:.0f} s", flush=True)
    return path


def _real_clip(folder: Path, source: Path, seconds: int) -> Path:
    """``source`` (a real clip) played over and over for ``seconds``, re-encoded at 25 fps (long side <= 640)
    (its audio looped too, where it has a track), cached in ``folder``: a long real video from a short one."""
    import numpy as np

    from emoreason.perception.media import iter_frames, load_audio, probe
    from emoreason.testing.media import SR, write_video

    path = folder / f"real_{source.stem}_{seconds}s.mp4"
    if path.exists():
        return path
    def played() -> Iterator[np.ndarray]:
        while True:
            for frame in iter_frames(source, fps=25.0, max_side=640):
                yield frame.image[: frame.image.shape[0] // 2 * 2, : frame.image.shape[1] // 2 * 2]  # even sides

    audio = None
    if probe(source).has_audio:
        one = load_audio(source, SR)
        audio = np.resize(one, int(seconds * SR)).astype(np.float32) if one.size else None
    images = played()
    t = time.perf_counter()
    write_video(path.with_suffix(".tmp.mp4"), lambda _t: next(images), seconds, fps=25, audio=audio, sr=SR)
    path.with_suffix(".tmp.mp4").rename(path)
    print(f"made {path.name} from {source.name} in {time.perf_counter() - t:.0f} s", flush=True)
    return path


def _batch(clip: Path, copies: int, workers: int) -> tuple[float, float]:
    """(seconds, cores busy on average) of `emoreason caption` over ``copies`` copies of ``clip`` with
    ``--workers`` (a fresh process, its start included, as a user runs it; prosody only, no whisper)."""
    import resource
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(dir=clip.parent) as tmp:
        folder = Path(tmp)
        for i in range(copies):  # hard links: each its own path, so its own id (ids are resolved paths)
            try:
                os.link(clip, folder / f"{clip.stem}_{i}{clip.suffix}")
            except OSError:
                shutil.copy(clip, folder / f"{clip.stem}_{i}{clip.suffix}")
        cmd = [sys.executable, "-m", "emoreason", "caption", str(folder), "-o", str(folder / "out.jsonl"),
               "--workers", str(workers)]  # fmt: skip
        env = {**os.environ, "XDG_CACHE_HOME": "/nonexistent"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        statuses = [json.loads(line)["status"] for line in (folder / "out.jsonl").read_text().splitlines()]
        assert statuses == ["ok"] * copies, statuses
    return wall, cpu / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child")
    parser.add_argument("--mode", default="pipeline")
    parser.add_argument("--no-speech", action="store_true")
    parser.add_argument("--sampling", default="adaptive", help="adaptive (the default) or fixed; both are timed")
    parser.add_argument("--short", type=int, default=60)
    parser.add_argument("--long", type=int, default=600)
    parser.add_argument("--dir", default="/tmp/emoreason-bench")
    parser.add_argument("--batch", type=int, default=0, metavar="N", help="also `emoreason caption` over N copies "
                        "of the short clip (and of the real one, with --real), --workers 1 against 2 (issue 24)")
    parser.add_argument("--real", type=Path, help="also the peak RSS growth on this real clip, looped to --short "
                        "and --long seconds (issue 24: <= 5 %% on generated and real clips)")
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.mode, args.no_speech, args.sampling)
        return
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    if args.real:
        real_short, real_long = _real_clip(folder, args.real, args.short), _real_clip(folder, args.real, args.long)
    short, long = _clip(folder, args.short), _clip(folder, args.long)
    print(f"cpu cores: {os.cpu_count()}; clip: 640x360 25 fps, sampling 4 fps, rules backend")
    decode = _run(short, "decode")
    fixed = _run(short, "pipeline", no_speech=True, sampling="fixed")
    faces_only = _run(short, "pipeline", no_speech=True)
    full = _run(short, "pipeline")
    rows = (("decode only (floor)", decode), ("--no-speech --sampling fixed", fixed),
            ("pipeline --no-speech", faces_only), ("pipeline", full))  # fmt: skip
    for name, r in rows:
        print(
            f"{name:28s} {args.short} s video in {r['wall']:.2f} s = {args.short / r['wall']:.1f}x real time "
            f"(first video in a process, imports included: {r['first']:.2f} s = {args.short / r['first']:.1f}x)"
        )
    print(
        f"pipeline / floor ratio:  {full['wall'] / decode['wall']:.1f} (--no-speech: "
        f"{faces_only['wall'] / decode['wall']:.1f})"
    )
    long_run = _run(long, "pipeline", repeats=1, once=True)
    short_once = _run(short, "pipeline", repeats=1, once=True)  # same single-run RSS conditions as the long clip
    growth = 100 * (long_run["rss_mb"] / short_once["rss_mb"] - 1)
    print(f"peak RSS {args.short:4d} s clip: {short_once['rss_mb']:.0f} MB  ({short_once['segments']} segments)")
    print(
        f"peak RSS {args.long:4d} s clip: {long_run['rss_mb']:.0f} MB  ({long_run['segments']} segments, "
        f"{args.long / long_run['wall']:.1f}x real time incl. imports)"
    )
    print(f"peak RSS growth: {growth:+.1f}%  (target <= 5%)")
    if args.real:
        real_long_run = _run(real_long, "pipeline", repeats=1, once=True)
        real_short_run = _run(real_short, "pipeline", repeats=1, once=True)
        real_growth = 100 * (real_long_run["rss_mb"] / real_short_run["rss_mb"] - 1)
        print(f"real clip {args.real.name}, looped: peak RSS {real_short_run['rss_mb']:.0f} MB ({args.short} s), "
              f"{real_long_run['rss_mb']:.0f} MB ({args.long} s): growth {real_growth:+.1f}%  (target <= 5%)")
    for name, clip in (("generated", short), *((("real", real_short),) if args.real else ())):
        if args.batch:
            (one, one_cores), (two, two_cores) = _batch(clip, args.batch, 1), _batch(clip, args.batch, 2)
            print(f"batch, {args.batch} x {args.short} s {name} clips: --workers 1 {one:.1f} s ({one_cores:.2f} cores "
                  f"busy), --workers 2 {two:.1f} s ({two_cores:.2f}): {one / two:.2f}x the videos per minute (target "
                  f">= 1.7 on 2 cores; at most {os.cpu_count()} / the cores one worker keeps busy)")
    rtf = args.short / full["wall"]
    print(f"real-time factor: {rtf:.1f}x  (target >= 20x) -> {'PASS' if rtf >= 20 and growth <= 5 else 'MISS'}")
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
