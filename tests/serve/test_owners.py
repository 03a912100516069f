"""Every session and caption job belongs to its key or client token: another client (here from another address,
127.0.0.2) can neither list, read, attach, cancel nor delete it; to it they do not exist (404)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import call, fetch, multipart, post_json

from emoreason.serve.limits import AccessPolicy

OTHER = "127.0.0.2"


def _done(url: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = call(f"{url}/v1/caption/{job_id}")[1]
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def test_jobs_and_sessions_are_their_owners_alone(start: Any, clip: Path) -> None:
    pytest.importorskip("av")
    with start() as url:
        body, headers = multipart([("file", clip.name, clip.read_bytes()), ("no_speech", "", "true")])
        job = call(f"{url}/v1/caption", body, headers)[1]
        sid = call(f"{url}/v1/sessions", b"", method="POST")[1]["session"]
        assert _done(url, job["id"])["status"] == "done"
        theirs = call(f"{url}/v1/sessions", b"", method="POST", source=OTHER)[1]["session"]
        assert call(f"{url}/v1/caption", source=OTHER) == (200, {"jobs": []})
        for path in (f"/v1/caption/{job['id']}", f"/v1/caption/{job['id']}/subtitles.vtt"):
            assert fetch(f"{url}{path}", source=OTHER)[0] == 404, path
        assert post_json(f"{url}/v1/sessions/{theirs}/video", {"job": job["id"]}, source=OTHER)[0] == 404
        assert post_json(f"{url}/v1/sessions/{sid}/ask", {"question": "why?"}, source=OTHER)[0] == 404
        assert call(f"{url}/v1/caption/{job['id']}/cancel", b"", method="POST", source=OTHER)[0] == 404
        assert call(f"{url}/v1/caption/{job['id']}", method="DELETE", source=OTHER)[0] == 404
        assert call(f"{url}/v1/sessions/{sid}", method="DELETE", source=OTHER)[0] == 404
        assert [j["id"] for j in call(f"{url}/v1/caption")[1]["jobs"]] == [job["id"]]  # the owner still has it
        assert post_json(f"{url}/v1/sessions/{sid}/video", {"job": job["id"]})[0] == 200
        forged = {"X-Emoreason-Client": "made.up"}  # a token this server did not sign is no one's
        assert call(f"{url}/v1/caption", headers=forged)[1] == {"jobs": []}


def test_the_page_is_known_by_its_cookie(start: Any) -> None:
    with start() as url:
        status, headers, _ = fetch(f"{url}/", headers={"X-Emoreason-Client": ""})
        cookie = headers["set-cookie"].split(";")[0]
        assert status == 200 and "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
        sid = call(f"{url}/v1/sessions", b"", {"Cookie": cookie, "X-Emoreason-Client": ""}, method="POST")[1]
        as_page = {"Cookie": cookie, "X-Emoreason-Client": ""}  # the cookie alone, as the page sends it
        assert (
            call(f"{url}/v1/sessions/{sid['session']}", headers={"X-Emoreason-Client": ""}, method="DELETE")[0] == 404
        )
        assert call(f"{url}/v1/sessions/{sid['session']}", headers=as_page, method="DELETE")[0] == 200


def test_each_api_key_owns_its_own(start: Any) -> None:
    with start(access=AccessPolicy(api_keys=("key-one", "key-two"))) as url:
        one, two = {"Authorization": "Bearer key-one"}, {"Authorization": "Bearer key-two"}
        sid = call(f"{url}/v1/sessions", b"", one, method="POST")[1]["session"]
        assert call(f"{url}/v1/sessions/{sid}", headers=two, method="DELETE")[0] == 404
        assert call(f"{url}/v1/sessions/{sid}", headers=one, method="DELETE")[0] == 200
