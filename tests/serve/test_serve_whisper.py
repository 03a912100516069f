"""Issue 27 item 2: `serve --whisper` reaches the caption jobs (before, the option did not exist while the jobs'
notes told users to pass it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from serve_helpers import call, multipart

pytest.importorskip("av")


def test_caption_jobs_transcribe_with_the_servers_whisper(
    start: Any, clip: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import time

    from emoreason.testing.whisper import make_tiny_whisper

    tiny = make_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny-random.pt")  # "says" hello
    with start(speech={"whisper": str(tiny), "language": "en"}) as url:
        body, headers = multipart([("file", clip.name, clip.read_bytes())])
        status, job = call(f"{url}/v1/caption", body, headers)
        assert status == 202, job
        deadline = time.monotonic() + 180
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
            job = call(f"{url}/v1/caption/{job['id']}")[1]
    result = job["result"]
    assert job["status"] == "done" and not any("speech skipped" in n for n in result["notes"]), result["notes"]
    assert any("hello" in s["transcript"] for s in result["segments"]), result["segments"]
