"""POST /v1/caption: a video runs as a bounded job with progress, a result in the caption JSON shape, subtitles,
cancel, and its evidence can join a chat session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from serve_helpers import call, post_json, submit_clip, text, wait_job

from emoreason.serve.limits import ServeLimits

pytest.importorskip("av")


def test_a_caption_job_runs_to_its_result_and_feeds_a_chat(server: str, clip: Path) -> None:
    status, job = submit_clip(server, clip, no_speech="true")
    assert status == 202 and job["status"] in ("queued", "running") and job["name"] == "clip.mp4"
    done, progress = wait_job(server, job["id"])
    assert done["status"] == "done" and done["progress"] == 1.0, done
    assert progress == sorted(progress)  # progress only moves forward
    result = done["result"]
    assert {"id", "path", "status", "duration", "tracks", "segments", "caption", "notes"} <= set(result)
    assert result["status"] == "ok" and result["path"] == "clip.mp4" and result["segments"] and result["caption"]
    assert "emoreason-serve-" not in str(result)
    status, vtt = text(f"{server}/v1/caption/{job['id']}/subtitles.vtt")
    assert status == 200 and vtt.startswith("WEBVTT")
    assert job["id"] in [j["id"] for j in call(f"{server}/v1/caption")[1]["jobs"]]
    sid = call(f"{server}/v1/sessions", b"", method="POST")[1]["session"]
    status, attached = post_json(f"{server}/v1/sessions/{sid}/video", {"job": job["id"]})
    assert status == 200 and attached["attached"] and "face track" in attached["message"]
    reply = post_json(f"{server}/v1/sessions/{sid}/ask", {"question": "What happens at 3 s?"})[1]
    first = result["segments"][-1]
    assert f"{first['start']:.1f}-{first['end']:.1f} s" in reply["reply"] and len(reply["faces"]) == 1


def test_jobs_are_bounded_cancellable_and_checked_first(start: Any, clip: Path, face_photo: Path) -> None:
    with start(limits=ServeLimits(video_jobs=1, video_seconds=3.0)) as url:
        status, reply = submit_clip(url, clip)
        assert status == 413 and "up to 3 s" in reply["detail"]  # read from the header, nothing started
        status, reply = submit_clip(url, face_photo)
        assert status == 422 and "an image, not a video" in reply["detail"]
    with start(limits=ServeLimits(video_jobs=1)) as url:
        first = submit_clip(url, clip)[1]
        status, reply = submit_clip(url, clip)
        assert status == 429 and reply["error"]["type"] == "rate_limit_error"
        cancelled = call(f"{url}/v1/caption/{first['id']}/cancel", b"", method="POST")[1]
        assert cancelled["id"] == first["id"]
        final, _ = wait_job(url, first["id"], timeout=30)
        assert final["status"] == "cancelled" and final["result"] is None
        status, again = submit_clip(url, clip, no_speech="true")
        assert status == 202  # the slot is free again, and a new perception process does the work
        assert wait_job(url, again["id"])[0]["status"] == "done"
        assert call(f"{url}/v1/caption/{first['id']}", method="DELETE") == (200, {"deleted": True})
        assert call(f"{url}/v1/caption/{first['id']}")[0] == 404
