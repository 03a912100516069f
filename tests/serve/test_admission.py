"""Admission before the body: a full queue, a full job table or a client over its bytes in flight is refused before
one byte of the upload is read; an upload is written once, to its final place; stalled bodies and headers time out."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import call, form_head, multipart, raw
from test_limits import SlowRules

from emoreason.serve.limits import ServeLimits

MB = 2**20


def _busy(url: str, body: bytes, headers: dict[str, str]) -> threading.Thread:
    """Send one request in a thread and wait until the server is working on it."""
    thread = threading.Thread(target=call, args=(f"{url}/v1/analyze", body, headers))
    thread.start()
    deadline = time.monotonic() + 10
    while call(f"{url}/health")[1]["queue"]["in_flight"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return thread


def test_a_full_queue_or_job_table_reads_no_body(start: Any, face_photo: Path, clip: Path) -> None:
    body, headers = multipart([("files", "a.jpg", face_photo.read_bytes())])
    chunks = [b"\0" * MB] * 20
    with start(SlowRules(1.5), limits=ServeLimits(queue=0, video_jobs=1)) as url:
        busy = _busy(url, body, headers)
        assert raw(url, form_head("/v1/analyze", 20 * MB), chunks) == (429, 0)
        sid = call(f"{url}/v1/sessions", b"", method="POST")[1]["session"]
        assert raw(url, form_head(f"/v1/sessions/{sid}/image", 20 * MB, url), chunks) == (429, 0)
        busy.join()
        video, video_headers = multipart([("file", clip.name, clip.read_bytes()), ("no_speech", "", "true")])
        job = call(f"{url}/v1/caption", video, video_headers)[1]
        assert raw(url, form_head("/v1/caption", 20 * MB), chunks) == (429, 0)
        assert call(f"{url}/v1/caption/{job['id']}/cancel", b"", method="POST")[0] == 200


def _temp_bytes(uploads: Path) -> int:
    """Bytes of this process's open temporary files (Starlette's spool, deleted but open) and of ``uploads``."""
    tmp, total, seen = tempfile.gettempdir(), 0, set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(tmp):
                info = os.stat(f"/proc/self/fd/{fd}")
                seen.add(info.st_ino)
                total += info.st_size
        except OSError:
            continue
    for path in uploads.rglob("*"):
        try:
            info = path.stat()
        except OSError:
            continue
        if path.is_file() and info.st_ino not in seen:
            total += info.st_size
    return total


def test_an_upload_is_written_once(face_photo: Path) -> None:
    from serve_helpers import running

    from emoreason.serve.app import create_app

    photo = face_photo.read_bytes() + b"\0" * (4 * MB)  # a JPEG with trailing bytes: still read as the photo
    body, headers = multipart([("files", "big.jpg", photo)])
    app = create_app(SlowRules(1.0))
    uploads = app.state.ctx.state.uploads
    peak, stop = [0], threading.Event()
    baseline = _temp_bytes(uploads)

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _temp_bytes(uploads) - baseline)
            time.sleep(0.01)

    with running(app) as url:
        watcher = threading.Thread(target=watch)
        watcher.start()
        status, reply = call(f"{url}/v1/analyze", body, headers)
        stop.set()
        watcher.join()
    assert status == 200 and reply["results"][0]["status"] == "ok"
    assert len(photo) * 0.9 < peak[0] <= 1.2 * len(photo), f"{peak[0] / MB:.1f} MB on disk for {len(photo) / MB:.1f}"


def test_stalled_bodies_and_headers_time_out(start: Any) -> None:
    with start(limits=ServeLimits(read_timeout_s=1, header_timeout_s=1)) as url:
        host, port = url.removeprefix("http://").split(":")
        began = time.monotonic()
        assert raw(url, form_head("/v1/analyze", MB), [b"--b\r\n"], first_wait=0, timeout=6) == (408, 5)
        assert time.monotonic() - began < 4
        with socket.create_connection((host, int(port)), timeout=6) as sock:
            sock.sendall(b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0")  # a head that never ends
            began = time.monotonic()
            assert sock.recv(100) == b""  # closed by the server
            assert time.monotonic() - began < 4
        assert call(f"{url}/health")[0] == 200


def test_bytes_in_flight_are_capped_per_address(start: Any, face_photo: Path) -> None:
    with start(limits=ServeLimits(client_inflight_mb=2, max_body_mb=4)) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as holder:
            holder.sendall(form_head("/v1/analyze", int(1.5 * MB)).encode() + b"--b\r\n")  # 1.5 MB declared, held
            time.sleep(0.3)
            status, sent = raw(url, form_head("/v1/analyze", int(1.5 * MB)), [b"\0" * MB])
            assert (status, sent) == (429, 0)
            body, headers = multipart([("files", "a.jpg", face_photo.read_bytes())])
            assert call(f"{url}/v1/analyze", body, headers, source="127.0.0.2")[0] == 200  # another address
        time.sleep(0.3)
        assert call(f"{url}/v1/analyze", body, headers)[0] == 200  # the held bytes were given back


pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
