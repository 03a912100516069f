"""Fair shares: a few clients cannot take every session or every open request, what a client cannot take it frees
from its own (its oldest idle session), never another's, and a client that hung up has its queued work dropped.
Clients are told apart by source address (127.0.0.x), each with its own client token."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

from serve_helpers import call, fetch, multipart, stalled_upload
from test_limits import SlowRules

from emoreason.serve.limits import ServeLimits

A, B, C, D, E = (f"127.0.0.{i}" for i in range(1, 6))


def _new(url: str, source: str) -> tuple[int, dict[str, str], Any]:
    status, headers, body = fetch(f"{url}/v1/sessions", b"", method="POST", source=source)
    return status, headers, json.loads(body)


def _alive(url: str, sid: str, source: str) -> bool:
    status = fetch(f"{url}/v1/sessions/{sid}/ask", b'{"question": "why?"}', {"Content-Type": "application/json"},
                   source=source)[0]  # fmt: skip
    return status != 404


def test_two_clients_cannot_lock_out_a_third(start: Any) -> None:
    limits = ServeLimits(max_sessions=8, sessions_per_client=8, sessions_per_address=8)
    with start(limits=limits) as url:
        mine = [_new(url, A)[2]["session"] for _ in range(10)]  # no 429: past its share it reuses its own
        theirs = [_new(url, B)[2]["session"] for _ in range(10)]
        assert [_alive(url, sid, A) for sid in mine] == [False] * 6 + [True] * 4  # its oldest went, 4 of 8 kept
        assert [_alive(url, sid, B) for sid in theirs] == [False] * 8 + [True] * 2  # A's sessions were not taken
        status, _, third = _new(url, C)
        assert status == 200, third  # before: A held all 8 and B, C got 429 for 30 minutes
        assert _new(url, D)[0] == 200
        status, headers, full = _new(url, E)  # 8 of 8 now: a fifth client holds none to give back
        assert status == 429 and "cap of 8 chat sessions" in full["detail"] and int(headers["retry-after"]) > 60
        assert all(_alive(url, sid, A) for sid in mine[-4:]) and _alive(url, third["session"], C)


def test_a_client_whose_sessions_are_all_in_use_gets_429(start: Any, face_photo: Path) -> None:
    with start(limits=ServeLimits(sessions_per_client=1)) as url:
        sid = _new(url, A)[2]["session"]
        with stalled_upload(url, f"/v1/sessions/{sid}/image", A):  # a request on it now: not idle
            time.sleep(1.0)
            status, headers, reply = _new(url, A)
            assert status == 429 and reply["error"]["code"] == "too_many_sessions"
            assert "in use by a request now" in reply["detail"] and headers["retry-after"] == "5"
            assert _new(url, B)[0] == 200  # another client is not affected
        time.sleep(0.5)
        status, _, again = _new(url, A)  # idle again: the new one replaces it
        assert status == 200 and not _alive(url, sid, A) and _alive(url, again["session"], A)


def test_open_requests_are_capped_per_client(start: Any) -> None:
    with start(limits=ServeLimits(connections_per_client=2)) as url:
        with stalled_upload(url, "/v1/analyze", A), stalled_upload(url, "/v1/analyze", A):
            time.sleep(1.0)
            status, headers, body = fetch(f"{url}/health", source=A)
            assert status == 429 and b"2 requests open (at most 2, --connections-per-client" in body
            assert headers["retry-after"] == "1"
            assert fetch(f"{url}/health", source=B)[0] == 200  # another address has its own share
        time.sleep(0.5)
        assert fetch(f"{url}/health", source=A)[0] == 200  # both ended: A may open requests again


def test_the_queued_work_of_a_client_that_hung_up_is_dropped(start: Any, face_photo: Path) -> None:
    body, headers = multipart([("files", "a.jpg", face_photo.read_bytes())])
    with start(SlowRules(2.0), limits=ServeLimits(queue=1)) as url:  # one running, one waiting
        running = threading.Thread(target=call, args=(f"{url}/v1/analyze", body, headers))
        running.start()
        deadline = time.monotonic() + 10
        while call(f"{url}/health")[1]["queue"]["in_flight"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as gone:  # queued behind it, then hangs up
            head = f"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {headers['Content-Type']}\r\n"
            gone.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            while call(f"{url}/health")[1]["queue"]["in_flight"] < 2:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        time.sleep(0.3)
        status, reply = call(f"{url}/v1/analyze", body, headers)  # before: 429, the queue still held its call
        assert status == 200, reply
        running.join()
        assert call(f"{url}/health")[1]["queue"]["abandoned"] == 1
