"""Serve load benchmark: a bounded burst of concurrent analyze and chat-completion requests against `emoreason serve`.

    python benchmarks/serve_load.py                          # 30 requests at once, half analyze, half chat
    python benchmarks/serve_load.py --requests 60 --concurrency 20 --queue 4 --photo group.jpg

Starts the server (rules backend) on a free loopback port in a subprocess, waits for /health, sends the burst from
a thread pool (every request at once by default), and prints throughput, p50/p95 latency of answered requests, the
count of 429s, errors (anything else; 5xx and lost connections included) and the server's peak RSS (VmHWM).
Every request must be answered or refused with 429: the script exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _photo(path: str | None) -> bytes:
    if path:
        return Path(path).read_bytes()
    import io

    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def _analyze_request(url: str, photo: bytes) -> urllib.request.Request:
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="photo.jpg"\r\n\r\n'.encode()
            + photo + f"\r\n--{boundary}--\r\n".encode())  # fmt: skip
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return urllib.request.Request(f"{url}/v1/analyze", body, headers)


def _chat_request(url: str, photo: bytes) -> urllib.request.Request:
    image = {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(photo).decode()}}
    body = {"model": "emoreason", "messages": [{"role": "user", "content": [image, {"type": "text", "text": "Why?"}]}]}
    return urllib.request.Request(
        f"{url}/v1/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )


def _send(request: urllib.request.Request) -> tuple[int, float]:
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as err:
        err.read()
        status = err.code
    except OSError:
        status = -1  # connection lost
    return status, time.perf_counter() - start


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start_server(queue: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "emoreason", "serve", "--port", str(port), "--queue", str(queue)]
    log = tempfile.TemporaryFile()
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return server, url
        except OSError:
            if server.poll() is not None:
                log.seek(0)
                raise SystemExit(f"the server did not start:\n{log.read().decode()}") from None
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not answer /health within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=None, help="default: all requests at once")
    parser.add_argument("--queue", type=int, default=8, help="the server's --queue")
    parser.add_argument("--photo", default=None, help="photo to send (default: scikit-image's astronaut)")
    args = parser.parse_args()

    photo = _photo(args.photo)
    server, url = _start_server(args.queue)
    try:
        _send(_analyze_request(url, photo))  # warm-up: model files and first-call set-up are not the load
        requests = [(_analyze_request if i % 2 == 0 else _chat_request)(url, photo) for i in range(args.requests)]
        start = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency or args.requests) as pool:
            replies = list(pool.map(_send, requests))
        wall = time.perf_counter() - start
        rss = _peak_rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    ok = sorted(seconds for status, seconds in replies if status == 200)
    refused = sum(1 for status, _ in replies if status == 429)
    errors = [status for status, _ in replies if status not in (200, 429)]
    p = (lambda q: ok[min(len(ok) - 1, int(q * len(ok)))]) if ok else (lambda q: float("nan"))
    report = {
        "requests": len(replies),
        "answered": len(ok),
        "refused_429": refused,
        "errors": len(errors),
        "error_statuses": sorted(set(errors)),
        "wall_s": round(wall, 2),
        "answered_per_s": round(len(ok) / wall, 2),
        "p50_s": round(statistics.median(ok), 3) if ok else None,
        "p95_s": round(p(0.95), 3),
        "server_peak_rss_mb": round(rss, 1),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))
    sys.exit(1 if errors or len(ok) + refused != len(replies) else 0)


if __name__ == "__main__":
    main()
