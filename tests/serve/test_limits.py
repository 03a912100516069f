"""What the server refuses before doing any work: 401, 403, 413 (body cap while streaming, pixel cap), 415, 422,
429, 504, session caps, safe upload names, and no 500 from any input a client can send."""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import call, multipart, post_json, raw

from emoreason.reasoning.rules import RuleReasoner
from emoreason.serve.limits import AccessPolicy, BodyLimit, ServeLimits


class SlowRules(RuleReasoner):
    """The rules backend, taking ``delay`` seconds per call (to fill the work queue)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def reason(self, evidence: list[Any]) -> list[Any]:
        time.sleep(self.delay)
        return super().reason(evidence)


def _huge_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG file whose header claims ``width`` x ``height`` (a decompression bomb's header)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8, 8), 255).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


def _body_limit(app: Any) -> BodyLimit:
    layer = app.middleware_stack
    while not isinstance(layer, BodyLimit):
        layer = layer.app
    return layer


def _spooled_bytes() -> int:
    """Bytes in this process's open files under the temp folder (Starlette spools uploads there, unlinked)."""
    total, tmp = 0, tempfile.gettempdir()
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(tmp):
                total += os.stat(f"/proc/self/fd/{fd}").st_size
        except OSError:
            continue
    return total


def test_a_declared_body_over_the_cap_is_refused_before_reading(server: str) -> None:
    head = (
        f"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {3 * 2**30}\r\n\r\n"
    )
    assert raw(server, head, first_wait=0, timeout=30) == (413, 0)


def test_a_streamed_body_over_the_cap_never_reaches_the_spool(face_photo: Path) -> None:
    from serve_helpers import running

    from emoreason.serve.app import create_app

    app = create_app(RuleReasoner(), limits=ServeLimits(max_body_mb=4))
    peak, stop = [0], threading.Event()
    baseline = _spooled_bytes()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _spooled_bytes() - baseline)
            time.sleep(0.005)

    with running(app) as url:
        watcher = threading.Thread(target=watch)
        watcher.start()
        head = (
            "POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        part = b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.jpg"\r\n\r\n'
        mb = b"\0" * 2**20
        chunks = [b"%x\r\n%s\r\n" % (len(c), c) for c in [part] + [mb] * 40]  # 40 MB, chunked, no length given
        status, sent = raw(url, head, chunks, first_wait=0, timeout=30)
        time.sleep(0.2)
        stop.set()
        watcher.join()
        assert status == 413
        assert _body_limit(app).seen.get("/v1/analyze", 0) <= 4 * 2**20  # the app never got more than the cap
        assert peak[0] <= 4 * 2**20, f"{peak[0] / 2**20:.1f} MB spooled"  # nor did the temp folder
        assert sent < 40 * 2**20  # the server stopped reading; the client could not push the whole body
        assert call(f"{url}/health")[0] == 200  # and it still serves


def test_pixel_cap_from_the_header(server: str, face_photo: Path) -> None:
    bomb = _huge_png()
    body, headers = multipart([("files", "bomb.png", bomb), ("files", "astronaut.jpg", face_photo.read_bytes())])
    status, reply = call(f"{server}/v1/analyze", body, headers)
    assert status == 200  # analyze reports a bad file as a result, the other file is still analyzed
    bad, good = reply["results"]
    assert bad["status"] == "error"  # Pillow's bomb guard, or our cap when Pillow's limit was raised (images.py)
    assert "too large to decode safely" in bad["error"] or "30000x30000 (900 MP), over" in bad["error"]
    assert good["status"] == "ok"
    body, headers = multipart([("files", "wide.png", _huge_png(9000, 5000))])  # 45 MP: under Pillow's limit
    (wide,) = call(f"{server}/v1/analyze", body, headers)[1]["results"]
    assert "9000x5000 (45 MP), over this server's 40 MP cap" in wide["error"]
    sid = call(f"{server}/v1/sessions", b"", method="POST")[1]["session"]
    body, headers = multipart([("file", "bomb.png", bomb)])
    status, reply = call(f"{server}/v1/sessions/{sid}/image", body, headers)
    assert status == 413 and reply["error"]["code"] == "image_too_large"


def test_wrong_content_types_get_415(server: str) -> None:
    status, reply = post_json(f"{server}/v1/analyze", {"files": []})
    assert status == 415 and "multipart/form-data" in reply["detail"]
    body, headers = multipart([("question", "", "hi")])
    assert call(f"{server}/v1/chat/completions", body, headers)[0] == 415
    image = {"type": "image_url", "image_url": {"url": "data:text/html;base64,PGI+"}}
    status, reply = post_json(
        f"{server}/v1/chat/completions", {"model": "emoreason", "messages": [{"role": "user", "content": [image]}]}
    )
    assert status == 415 and reply["error"]["type"] == "invalid_request_error"


def test_strict_request_models_give_422(server: str) -> None:
    sid = call(f"{server}/v1/sessions", b"", method="POST")[1]["session"]
    for bad in ({"question": 123}, {"question": ["why"]}, {"question": "   "}, {"question": "x", "extra": 1}, {}):
        status, reply = post_json(f"{server}/v1/sessions/{sid}/ask", bad)
        assert status == 422, bad
        assert reply["error"]["type"] == "invalid_request_error" and reply["detail"]
    for bad in (
        {"model": 1, "messages": []},
        {"model": "emoreason", "messages": "hi"},
        {"model": "emoreason", "messages": [{"role": "robot", "content": "x"}]},
        {"model": "emoreason", "messages": [{"role": "user", "content": "x"}], "stream": "yes"},
    ):
        assert post_json(f"{server}/v1/chat/completions", bad)[0] == 422, bad


def test_unsafe_upload_names_are_made_safe(server: str, face_photo: Path) -> None:
    names = ["a" * 300 + ".jpg", "nul\x00byte.jpg", "../../etc/passwd", "..", "\u00e9t\u00e9 photo.jpg"]
    body, headers = multipart([("files", name, face_photo.read_bytes()) for name in names])
    status, reply = call(f"{server}/v1/analyze", body, headers)
    assert status == 200
    shown = [r["path"] for r in reply["results"]]
    assert [r["status"] for r in reply["results"]] == ["ok"] * 5
    assert len(shown[0].encode()) <= 120 and shown[0].endswith(".jpg")
    assert shown[1:] == ["nul_byte.jpg", "passwd", "upload", "\u00e9t\u00e9 photo.jpg"]


def test_host_origin_and_key(start: Any, face_photo: Path) -> None:
    with start(access=AccessPolicy(api_keys=("k3y",), origins={"http://localhost:3000"})) as url:
        key = {"Authorization": "Bearer k3y"}
        assert call(f"{url}/v1/models")[0] == 401
        status, reply = call(f"{url}/v1/models", headers={"Authorization": "Bearer nope"})
        assert status == 401 and reply["error"]["type"] == "authentication_error"
        assert call(f"{url}/v1/models", headers=key)[0] == 200
        assert call(f"{url}/health")[0] == 200  # liveness and the page need no key
        rebinding = call(f"{url}/v1/models", headers={**key, "Host": "attacker.example:8000"})
        assert rebinding[0] == 403 and "DNS rebinding" in rebinding[1]["detail"]
        host = url.removeprefix("http://")
        cross = call(f"{url}/v1/sessions", b"", {**key, "Origin": "http://attacker.example"}, method="POST")
        assert cross[0] == 403 and "--allow-origin" in cross[1]["detail"]
        assert call(f"{url}/v1/sessions", b"", {**key, "Origin": f"http://{host}"}, method="POST")[0] == 200
        assert call(f"{url}/v1/sessions", b"", {**key, "Origin": "http://localhost:3000"}, method="POST")[0] == 200
        assert call(f"{url}/v1/sessions", b"", {**key, "Origin": "null"}, method="POST")[0] == 403


def test_binding_beyond_loopback_needs_a_key_or_a_flag() -> None:
    from emoreason.errors import EmoreasonError
    from emoreason.serve.app import access_policy

    with pytest.raises(EmoreasonError, match="--api-key"):
        access_policy("0.0.0.0", [], [], [], allow_no_auth=False)
    assert access_policy("0.0.0.0", ["k"], [], [], allow_no_auth=False).hosts is None  # any Host; the key guards
    assert access_policy("0.0.0.0", [], [], [], allow_no_auth=True).api_keys == ()
    assert access_policy("127.0.0.1", [], ["box.lan"], [], allow_no_auth=False).hosts >= {"box.lan", "localhost"}
    assert access_policy("0.0.0.0", ["k"], ["a.lan,b.lan"], [], allow_no_auth=False).hosts >= {"a.lan", "b.lan"}


@pytest.mark.parametrize(("host", "allowed"), [("127.1", []), ("0.0.0.0", []), ("0.0.0.0", ["box.lan"])])
def test_without_a_key_the_host_is_checked_wherever_it_listens(start: Any, host: str, allowed: list[str]) -> None:
    from emoreason.serve.app import access_policy

    with start(access=access_policy(host, [], allowed, [], allow_no_auth=True)) as url:
        port = url.rsplit(":", 1)[1]
        rebinding = call(f"{url}/v1/sessions", b"", {"Host": f"evil.example:{port}"}, method="POST")
        assert rebinding[0] == 403 and "DNS rebinding" in rebinding[1]["detail"]
        for name in [*allowed, "localhost", "192.168.1.4", "[::1]"]:  # named, or an address (never a rebinding)
            assert call(f"{url}/v1/sessions", b"", {"Host": f"{name}:{port}"}, method="POST")[0] == 200, name


def test_serve_refuses_a_public_address_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from emoreason.cli import app
    from emoreason.errors import EmoreasonError

    monkeypatch.delenv("EMOREASON_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])  # main() prints it as one "error:" line
    assert isinstance(result.exception, EmoreasonError) and "--allow-no-auth" in str(result.exception)


def test_every_limit_option_reaches_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from typer.testing import CliRunner

    from emoreason.cli import app

    seen: dict[str, Any] = {}
    monkeypatch.setattr("emoreason.serve.app.serve", lambda *_args, **kwargs: seen.update(kwargs))
    flags = ["--max-image-mb", "7", "--connections-per-client", "3", "--sessions-per-client", "2"]
    result = CliRunner().invoke(app, ["serve", *flags])
    assert result.exit_code == 0, result.output
    limits = seen["limits"]
    assert (limits.max_image_mb, limits.connections_per_client, limits.sessions_per_client) == (7, 3, 2)
    assert dataclasses.replace(limits, max_image_mb=320, connections_per_client=64, sessions_per_client=16) == (
        ServeLimits()
    )  # every other field at its default: each ServeLimits field is an option of its own name


def test_a_full_queue_answers_429_with_retry_after(start: Any, face_photo: Path) -> None:
    body, headers = multipart([("files", "a.jpg", face_photo.read_bytes())])
    with start(SlowRules(1.0), limits=ServeLimits(queue=1)) as url:
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda _: _status_and_retry(f"{url}/v1/analyze", body, headers), range(8)))
    statuses = sorted(status for status, _ in replies)
    assert set(statuses) == {200, 429} and statuses.count(200) >= 2, statuses
    assert all(int(retry) >= 1 for status, retry in replies if status == 429)


def _status_and_retry(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str | None]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=60) as response:
            return response.status, None
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Retry-After")


def test_a_slow_request_times_out_with_504(start: Any, face_photo: Path) -> None:
    body, headers = multipart([("files", "a.jpg", face_photo.read_bytes())])
    with start(SlowRules(3.0), limits=ServeLimits(timeout_s=0.5)) as url:
        status, reply = call(f"{url}/v1/analyze", body, headers)
    assert status == 504 and "--timeout-s" in reply["detail"]


def test_session_caps(start: Any, face_photo: Path) -> None:
    limits = ServeLimits(sessions_per_client=2, session_attachments=1, session_turns=2, question_chars=40)
    with start(limits=limits) as url:
        sids = [call(f"{url}/v1/sessions", b"", method="POST")[1]["session"] for _ in range(3)]
        assert call(f"{url}/v1/sessions/{sids[0]}", method="DELETE")[0] == 404  # past its cap, its oldest went
        sid = sids[1]
        body, headers = multipart([("file", "a.jpg", face_photo.read_bytes())])
        assert call(f"{url}/v1/sessions/{sid}/image", body, headers)[0] == 200
        status, reply = call(f"{url}/v1/sessions/{sid}/image", body, headers)
        assert status == 409 and "attachments" in reply["detail"]
        assert post_json(f"{url}/v1/sessions/{sid}/ask", {"question": "x" * 41})[0] == 422
        assert [post_json(f"{url}/v1/sessions/{sid}/ask", {"question": "why?"})[0] for _ in range(3)] == [
            200,
            200,
            409,
        ]
        assert call(f"{url}/v1/sessions/{sid}", method="DELETE")[0] == 200


def test_no_input_gives_a_500(server: str) -> None:
    sid = call(f"{server}/v1/sessions", b"", method="POST")[1]["session"]
    form = {"Content-Type": "multipart/form-data; boundary=zz"}
    as_json = {"Content-Type": "application/json"}

    def completion(*content: dict[str, Any], role: str = "user") -> bytes:
        return json.dumps({"model": "emoreason", "messages": [{"role": role, "content": list(content)}]}).encode()

    def image(url: str) -> dict[str, Any]:
        return {"type": "image_url", "image_url": {"url": url}}

    attempts = [
        ("/v1/analyze", b"garbage", form),
        ("/v1/analyze", b"--zz\r\n\r\n--zz--", form),
        ("/v1/analyze", b"", {"Content-Type": "multipart/form-data"}),
        ("/v1/analyze", multipart([("files", "empty.jpg", b"")])[0], {}),
        (f"/v1/sessions/{sid}/image", b"--zz--\r\n", form),
        (f"/v1/sessions/{sid}/ask", b"{", as_json),
        (f"/v1/sessions/{sid}/ask", b'{"question": "\\ud800"}', as_json),
        (f"/v1/sessions/{sid}/video", b'{"job": "nope"}', as_json),
        ("/v1/chat/completions", completion({"type": "text", "text": "x"}, role="assistant"), as_json),
        ("/v1/chat/completions", completion(image("data:image/png;base64,!!!")), as_json),
        ("/v1/chat/completions", completion(image("data:image/png;base64,aGVsbG8=")), as_json),
        ("/v1/chat/completions", completion(image("data:image/png,plain")), as_json),
        ("/v1/caption", b"", {}),
        ("/v1/caption/nope/cancel", b"", {}),
        ("/v1/sessions/../../etc", b"", {}),
    ]
    for path, body, headers in attempts:
        if path == "/v1/caption":
            body, headers = multipart([("file", "x.mp4", b"not a video")])
        if path == "/v1/analyze" and not headers:
            body, headers = multipart([("files", "empty.jpg", b"")])
        status, reply = call(f"{server}{path}", body, headers, method="POST")
        assert 200 <= status < 500 and (status == 200 or reply["error"]["message"]), (path, status, reply)


def test_30_parallel_requests_are_each_answered_or_refused(server: str, face_photo: Path) -> None:
    import base64

    body, headers = multipart([("files", "a.jpg", face_photo.read_bytes())])
    url = "data:image/jpeg;base64," + base64.b64encode(face_photo.read_bytes()).decode()
    chat = {
        "model": "emoreason",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}],
    }
    requests = [
        (f"{server}/v1/analyze", body, headers)
        if i % 2
        else (f"{server}/v1/chat/completions", json.dumps(chat).encode(), {"Content-Type": "application/json"})
        for i in range(30)
    ]
    with ThreadPoolExecutor(30) as pool:
        replies = list(pool.map(lambda r: _status_and_retry(*r), requests))
    statuses = [status for status, _ in replies]
    assert len(statuses) == 30 and set(statuses) <= {200, 429} and 200 in statuses, statuses


def test_the_examples_in_the_docstrings() -> None:
    import doctest

    from emoreason.serve import limits

    result = doctest.testmod(limits)
    assert result.attempted > 0 and result.failed == 0
