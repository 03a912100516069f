"""`emoreason serve`: the real FastAPI app under uvicorn on loopback, driven over HTTP like the web UI does."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from serve_helpers import call as _call
from serve_helpers import multipart as _multipart


def test_health_and_the_web_page(server: str) -> None:
    status, health = _call(f"{server}/health")
    assert status == 200 and (health["status"], health["backend"], health["version"]) == ("ok", "rules", "0.1.0")
    assert health["auth"] is False and health["limits"]["max_body_mb"] == 32.0 and health["queue"]["depth"] == 8
    with urllib.request.urlopen(f"{server}/", timeout=10) as response:
        page = response.read().decode()
    assert response.headers["content-type"].startswith("text/html")
    assert "/v1/analyze" in page and "/v1/sessions" in page and "/v1/caption" in page
    assert "<title>emoreason</title>" in page


def test_analyze_returns_the_cli_json_per_file(server: str, face_photo: Path, no_face_photo: Path) -> None:
    body, headers = _multipart(
        [
            ("files", "astronaut.jpg", face_photo.read_bytes()),
            ("files", "coffee.jpg", no_face_photo.read_bytes()),
            ("files", "notes.jpg", b"not an image at all"),
            ("label_set", "", "basic"),
        ]
    )
    status, reply = _call(f"{server}/v1/analyze", body, headers)
    assert status == 200
    face, cup, bad = reply["results"]
    assert (face["path"], face["status"], cup["status"], bad["status"]) == ("astronaut.jpg", "ok", "no_face", "error")
    (only,) = face["faces"]
    assert set(only) == {
        "box", "aus", "label", "scores", "head_pose", "quality", "quality_text", "uncertain_aus", "expression", "raw",
    "format_ok"
    }  # fmt: skip
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


def test_docs_work_offline(server: str) -> None:
    from emoreason.serve.docs import assets_folder

    with urllib.request.urlopen(f"{server}/docs", timeout=10) as response:
        page = response.read().decode()
    if assets_folder() is None:  # without fastapi-offline: the plain list, still no network
        assert "/openapi.json" in page and "/v1/chat/completions" in page and "http" not in page.split("<body>")[1]
        return
    assert "/docs/assets/swagger-ui-bundle.js" in page and "cdn." not in page and "https://" not in page
    with urllib.request.urlopen(f"{server}/docs/assets/swagger-ui-bundle.js", timeout=10) as response:
        assert response.status == 200 and len(response.read()) > 100_000
    with urllib.request.urlopen(f"{server}/redoc", timeout=10) as response:
        assert "/docs/assets/redoc.standalone.js" in response.read().decode()
