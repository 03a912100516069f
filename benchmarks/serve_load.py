"""Serve load benchmark: a bounded burst of concurrent analyze and chat-completion requests against `emoreason serve`.

    python benchmarks/serve_load.py                          # 30 requests at once, half analyze, half chat
    python benchmarks/serve_load.py --requests 60 --concurrency 20 --queue 4 --photo group.jpg
    python benchmarks/serve_load.py --uploads     # 16 x 30 MB analyze uploads, then 3 x 190 MB caption uploads

Starts the server (rules backend) on a free loopback port in a subprocess, waits for /health, sends the burst from
a thread pool (every request at once by default), and prints throughput, p50/p95 latency of answered requests, the
count of 429s, errors (anything else; 5xx and lost connections included) and the server's peak RSS (VmHWM).
Every request must be answered or refused with 429: the script exits 1 otherwise.

``--uploads`` measures admission instead: 16 concurrent 30 MB analyze uploads (a photo padded to 30 MB), then 3
concurrent 190 MB caption uploads (a generated 4 s face clip, padded), each burst printing the statuses, the peak
temporary disk (the server's --state-dir uploads plus its open temporary files, sampled every 20 ms), its ratio to
the bytes of the admitted requests, the server's peak RSS and the worst latency of a canary polling /health.
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


def _start_server(queue: int, state_dir: str | None = None) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "emoreason", "serve", "--port", str(port), "--queue", str(queue)]
    cmd += ["--state-dir", state_dir or tempfile.mkdtemp(prefix="serve-load-state-")]
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


def _temp_disk(pid: int, uploads: Path) -> int:
    """Bytes in ``uploads`` plus the server's open files under the temp folder (deleted spools count too)."""
    total, seen, tmp = 0, set(), tempfile.gettempdir()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).startswith(tmp) and fd.is_file():
                info = fd.stat()
                seen.add(info.st_ino)
                total += info.st_size
        except OSError:
            continue
    for path in uploads.rglob("*"):
        try:
            info = path.stat()
            if path.is_file() and info.st_ino not in seen:
                total += info.st_size
        except OSError:
            continue
    return total


def _upload(url: str, route: str, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
    """POST ``body`` as a careful client does (curl, for big bodies): ``Expect: 100-continue``, the body only once
    the server says 100, so a refusal before reading is seen as its status, not as a broken pipe."""
    import http.client
    import select
    from urllib.parse import urlsplit

    parts, start = urlsplit(url), time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    try:
        conn.putrequest("POST", route)
        for key, value in {**headers, "Content-Length": str(len(body)), "Expect": "100-continue"}.items():
            conn.putheader(key, value)
        conn.endheaders()
        sock = conn.sock
        if select.select([sock], [], [], 5)[0] and not sock.recv(16, socket.MSG_PEEK).startswith(b"HTTP/1.1 100"):
            response = conn.getresponse()  # answered before the body: a refusal
        else:
            while select.select([sock], [], [], 0)[0] and sock.recv(16, socket.MSG_PEEK).startswith(b"HTTP/1.1 100"):
                sock.recv(len(b"HTTP/1.1 100 Continue\r\n\r\n"))
            conn.send(body)
            response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - start
    except OSError:
        return -1, time.perf_counter() - start
    finally:
        conn.close()


def _burst(url: str, pid: int, uploads: Path, route: str, field: str, name: str, payload: bytes, n: int) -> dict:
    """``n`` concurrent multipart uploads of ``payload``, with disk sampling and a canary."""
    import threading

    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n\r\n'.encode()
            + payload + f"\r\n--{boundary}--\r\n".encode())  # fmt: skip
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    peak, worst, stop = [0], [0.0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _temp_disk(pid, uploads))
            time.sleep(0.02)

    def canary() -> None:
        while not stop.is_set():
            _, seconds = _send(urllib.request.Request(f"{url}/health"))
            worst[0] = max(worst[0], seconds)
            time.sleep(0.05)

    watchers = [threading.Thread(target=sample), threading.Thread(target=canary)]
    for thread in watchers:
        thread.start()
    start = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        replies = list(pool.map(lambda _: _upload(url, route, body, headers), range(n)))
    wall = time.perf_counter() - start
    time.sleep(0.3)
    stop.set()
    for thread in watchers:
        thread.join()
    admitted = sum(len(body) for status, _ in replies if 200 <= status < 300)
    return {
        "route": route,
        "requests": n,
        "body_mb": round(len(body) / 2**20, 1),
        "statuses": {str(k): [s for s, _ in replies].count(k) for k in sorted({s for s, _ in replies})},
        "wall_s": round(wall, 2),
        "admitted_mb": round(admitted / 2**20, 1),
        "peak_temp_disk_mb": round(peak[0] / 2**20, 1),
        "disk_per_admitted": round(peak[0] / admitted, 2) if admitted else None,
        "canary_worst_s": round(worst[0], 3),
        "server_peak_rss_mb": round(_peak_rss_mb(pid), 1),
    }


def uploads_main(photo: bytes) -> None:
    from emoreason.testing.media import make_face_video

    state = tempfile.mkdtemp(prefix="serve-load-state-")
    clip = make_face_video(Path(state).parent / f"{Path(state).name}-clip.mp4", seconds=4.0, audio="tone")
    server, url = _start_server(8, state)
    try:
        uploads = Path(state) / "uploads"
        reports = [
            _burst(url, server.pid, uploads, "/v1/analyze", "files", "big.jpg", photo.ljust(30 * 2**20, b"\0"), 16),
            _burst(url, server.pid, uploads, "/v1/caption", "file", "clip.mp4",
                   clip.read_bytes().ljust(190 * 2**20, b"\0"), 3),
        ]  # fmt: skip
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    print(json.dumps({"bursts": reports, "cpus": os.cpu_count()}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=None, help="default: all requests at once")
    parser.add_argument("--queue", type=int, default=8, help="the server's --queue")
    parser.add_argument("--photo", default=None, help="photo to send (default: scikit-image's astronaut)")
    parser.add_argument("--uploads", action="store_true", help="measure upload admission instead (see above)")
    args = parser.parse_args()

    photo = _photo(args.photo)
    if args.uploads:
        uploads_main(photo)
        return
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
