"""The live page's WebSocket (``/v1/live``) on the real app on loopback: frames in, readings out, Stop makes a
caption job; garbage, oversize frames, a client that never reads, the connection cap and a foreign Origin each get
a clear close or message, and the server goes on serving."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest

pytest.importorskip("websockets")

from serve_helpers import _TOKENS, CLIENT, call, fetch, text  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402


def _jpeg(t: float) -> bytes:
    from PIL import Image

    from emoreason.testing.media import face_frame

    buf = io.BytesIO()
    Image.fromarray(face_frame(t)).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _ws(url: str, **kwargs: Any) -> Any:
    """A WebSocket to the live route as the same client as ``fetch`` (its client token, as a browser's cookie)."""
    fetch(url + "/health")
    headers = {CLIENT: _TOKENS[f"|{url}"]} if f"|{url}" in _TOKENS else {}
    return connect(url.replace("http://", "ws://") + "/v1/live", open_timeout=10, additional_headers=headers, **kwargs)


def _events(ws: Any, until: str, timeout: float = 60) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events.append(json.loads(ws.recv(timeout=deadline - time.monotonic())))
        if events[-1]["type"] == until:
            return events
    raise AssertionError(f"no {until!r} event in {timeout} s: {[e['type'] for e in events]}")


def _ready(ws: Any, timeout: float = 60) -> None:
    """Wait for the session's ``ready`` event: the first message, once the faces pass has warmed up."""
    assert _events(ws, "ready", timeout) == [{"type": "ready"}]


@pytest.fixture(scope="module")
def live_server(start: Any) -> Any:
    from emoreason.serve.limits import ServeLimits

    limits = ServeLimits(live_connections=2, live_per_client=2, live_frame_kb=256, live_idle_s=3)
    with start(limits=limits) as url:
        yield url


def test_frames_in_readings_out_and_stop_makes_a_caption(live_server: str) -> None:
    with _ws(live_server) as ws:
        _ready(ws)
        for i in range(60):  # 12 s at 5 fps, past the server's 10 s header timeout: windows close on the way
            ws.send(_jpeg(i / 5))
            time.sleep(0.2)
        ws.send(json.dumps({"type": "stop"}))
        events = _events(ws, "done")
    readings = [e for e in events if e["type"] == "reading"]
    assert len(readings) >= 10
    first = readings[0]
    assert first["label"] and first["box"][2] > 0 and first["size"] == [640, 360]
    assert set(first) >= {"time", "track", "label", "probabilities", "aus", "latency", "dropped"}
    segments = [e for e in events if e["type"] == "segment"]
    assert segments and segments[0]["cot"].startswith("<think>")
    done = events[-1]
    status, job = call(live_server + done["job"]["links"]["self"])
    assert status == 200 and job["status"] == "done" and job["result"]["segments"]
    status, srt = text(live_server + done["job"]["links"]["srt"])
    assert status == 200 and "-->" in srt
    status, line = text(live_server + done["job"]["links"]["jsonl"])
    assert status == 200 and json.loads(line)["segments"]


def test_garbage_gets_a_message_then_a_close(live_server: str) -> None:
    with _ws(live_server) as ws:
        _ready(ws)
        ws.send(b"not a jpeg at all")
        assert "not an image" in json.loads(ws.recv(timeout=10))["message"]
        ws.send("hello")
        assert "commands" in json.loads(ws.recv(timeout=10))["message"]
        for _ in range(5):
            ws.send(b"\x00" * 100)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
    assert closed.value.rcvd.code == 1003


def test_an_oversize_frame_closes_with_1009(live_server: str) -> None:
    with _ws(live_server) as ws:
        ws.send(b"\xff" * (300 * 1024))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
    assert closed.value.rcvd.code == 1009
    assert call(live_server + "/health")[0] == 200  # the server goes on


def test_idle_connection_is_closed_and_a_client_that_never_reads_is_bounded(live_server: str) -> None:
    with _ws(live_server) as ws:
        for i in range(15):  # sends and never reads its answers
            ws.send(_jpeg(i / 5))
        time.sleep(5)  # then nothing: the idle timeout (3 s) closes it
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=15)
    assert closed.value.rcvd.code == 1001 and "no frame" in closed.value.rcvd.reason


def test_connection_cap_and_foreign_origin_are_refused(live_server: str) -> None:
    with _ws(live_server), _ws(live_server):
        with _ws(live_server) as third:
            with pytest.raises(ConnectionClosed) as closed:
                third.recv(timeout=10)
        assert closed.value.rcvd.code == 1013 and "live connections" in closed.value.rcvd.reason
    with pytest.raises(InvalidStatus):
        _ws(live_server, origin="http://evil.example").__enter__()
