"""`emoreason serve` as a process: SIGTERM (kill, systemd, docker stop) during a caption job leaves no process and
no upload behind; after SIGKILL and a restart on the same --state-dir, finished jobs are listed again for their
owner and the dead server's uploads are gone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from serve_helpers import call, multipart, text, wait_job

pytest.importorskip("av")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(state: Path, port: int) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "emoreason", "serve", "--port", str(port), "--state-dir", str(state)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=state.parent)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            call(f"{url}/health", timeout=2)
            return server, url
        except OSError:
            assert server.poll() is None, "the server exited"
            time.sleep(0.2)
    server.kill()
    raise AssertionError("the server did not start")


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigterm_cleans_up_and_sigkill_loses_no_finished_job(tmp_path: Path, clip: Path) -> None:
    from emoreason.testing import media as tm

    state = tmp_path / "state"
    body, headers = multipart([("file", clip.name, clip.read_bytes()), ("no_speech", "", "true")])
    # the jobs caught mid-run read a 30 s clip: a 4 s one is captioned in under a second, between two polls
    long = tm.make_face_video(tmp_path / "long.mp4", seconds=30.0, audio="tone")
    long_body, long_headers = multipart([("file", long.name, long.read_bytes()), ("no_speech", "", "true")])
    port = _free_port()  # the same port after the restart: the tests' client keeps its token per address
    server, url = _serve(state, port)
    try:
        done = call(f"{url}/v1/caption", body, headers)[1]
        assert wait_job(url, done["id"], lambda j: j["status"] == "done")[0]["result"]
        going = call(f"{url}/v1/caption", long_body, long_headers)[1]
        wait_job(url, going["id"], lambda j: j["stage"] in ("faces", "speech"))
        assert any((state / "uploads").iterdir())  # the running job's upload
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    server, url = _serve(state, port)
    processes: set[int] = set()
    try:
        assert not any((state / "uploads").iterdir())  # the dead server's upload is gone
        jobs = {j["id"]: j for j in call(f"{url}/v1/caption")[1]["jobs"]}  # the same client token as before
        assert jobs[done["id"]]["status"] == "done" and jobs[going["id"]]["status"] == "error"
        assert call(f"{url}/v1/caption/{done['id']}")[1]["result"]["segments"]
        assert text(f"{url}/v1/caption/{done['id']}/subtitles.vtt")[1].startswith("WEBVTT")
        assert call(f"{url}/v1/caption", source="127.0.0.2")[1]["jobs"] == []  # and still only for their owner
        job = call(f"{url}/v1/caption", long_body, long_headers)[1]
        wait_job(url, job["id"], lambda j: j["stage"] in ("faces", "speech"))
        processes = _descendants(server.pid)
        assert processes  # the perception worker (and multiprocessing's resource tracker)
        server.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while any(map(_alive, processes | {server.pid})) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in processes | {server.pid} if _alive(pid)], "processes left after SIGTERM"
        assert not (state / "uploads").exists() or not any((state / "uploads").iterdir())
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=10)
        for pid in processes:  # what a failed run left behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
