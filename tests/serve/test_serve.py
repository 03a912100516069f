"""`emoreason serve`: the real FastAPI app under uvicorn on loopback, driven over HTTP like the web UI does."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    from emoreason.reasoning.rules import RuleReasoner
    from emoreason.serve.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(RuleReasoner()), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _call(url: str, data: bytes | None = None, headers: dict[str, str] | None = None, method: str | None = None):
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _multipart(fields: list[tuple[str, str, bytes | str]]) -> tuple[bytes, dict[str, str]]:
    """(name, filename or "", content) parts -> a multipart/form-data body and its Content-Type."""
    boundary = uuid.uuid4().hex
    body = b""
    for name, filename, content in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        payload = content.encode() if isinstance(content, str) else content
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + payload + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_health_and_the_web_page(server: str) -> None:
    assert _call(f"{server}/health") == (200, {"status": "ok", "backend": "rules", "version": "0.1.0"})
    with urllib.request.urlopen(f"{server}/", timeout=10) as response:
        page = response.read().decode()
    assert response.headers["content-type"].startswith("text/html")
    assert "/v1/analyze" in page and "/v1/sessions" in page and "<title>emoreason</title>" in page


def test_analyze_returns_the_cli_json_per_file(server: str, face_photo: Path, no_face_photo: Path) -> None:
    body, headers = _multipart([
        ("files", "astronaut.jpg", face_photo.read_bytes()),
        ("files", "coffee.jpg", no_face_photo.read_bytes()),
        ("files", "notes.jpg", b"not an image at all"),
        ("label_set", "", "basic"),
    ])  # fmt: skip
    status, reply = _call(f"{server}/v1/analyze", body, headers)
    assert status == 200
    face, cup, bad = reply["results"]
    assert (face["path"], face["status"], cup["status"], bad["status"]) == ("astronaut.jpg", "ok", "no_face", "error")
    (only,) = face["faces"]
    assert set(only) == {"box", "aus", "label", "scores", "head_pose", "raw", "format_ok"}
    assert only["label"] == "happiness" and only["format_ok"] and all(isinstance(v, int) for v in only["box"])
    assert "happily surprised" not in only["scores"]  # the request's basic label set reached the reasoner
    assert "notes.jpg is not an image file" in bad["error"] and "emoreason-serve-" not in bad["error"]


def test_bad_requests_are_clear_http_errors(server: str, face_photo: Path) -> None:
    body, headers = _multipart([("files", "a.jpg", face_photo.read_bytes()), ("label_set", "", "fancy")])
    status, reply = _call(f"{server}/v1/analyze", body, headers)
    assert status == 422 and "label_set must be one of basic, compound, open" in reply["detail"]
    assert (
        _call(f"{server}/v1/sessions/nope/ask", b'{"question": "hi"}', {"Content-Type": "application/json"})[0] == 404
    )


def test_chat_session_attaches_a_photo_and_answers_twice(server: str, face_photo: Path, no_face_photo: Path) -> None:
    status, reply = _call(f"{server}/v1/sessions", b"", method="POST")
    sid = reply["session"]
    body, headers = _multipart([("file", "coffee.jpg", no_face_photo.read_bytes())])
    assert _call(f"{server}/v1/sessions/{sid}/image", body, headers)[1]["attached"] is False
    body, headers = _multipart([("file", "astronaut.jpg", face_photo.read_bytes())])
    status, attached = _call(f"{server}/v1/sessions/{sid}/image", body, headers)
    assert status == 200 and attached["attached"] and "AU12 lip corner puller" in attached["message"]
    assert "emoreason-serve-" not in attached["message"]
    ask: dict[str, Any] = {"Content-Type": "application/json"}
    first = _call(f"{server}/v1/sessions/{sid}/ask", json.dumps({"question": "How does she feel?"}).encode(), ask)
    second = _call(f"{server}/v1/sessions/{sid}/ask", json.dumps({"question": "Which AUs?"}).encode(), ask)
    assert first[0] == second[0] == 200
    assert "happiness" in first[1]["reply"] and "Key observations" in first[1]["reply"]
    assert first[1]["reply"].startswith("astronaut.jpg: happiness")  # the upload's name, not a server temp path
    assert second[1]["turns"] == 4
    assert _call(f"{server}/v1/sessions/{sid}/ask", b'{"question": ""}', ask)[0] == 422
    assert _call(f"{server}/v1/sessions/{sid}", method="DELETE") == (200, {"ended": True})
    assert _call(f"{server}/v1/sessions/{sid}", method="DELETE")[0] == 404
