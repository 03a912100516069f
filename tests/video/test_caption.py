"""Batch captioning: inputs, per-item errors, resume after a torn line or a kill, workers, ray, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emoreason.cli import app
from emoreason.errors import EmoreasonError
from emoreason.io import JsonlLog
from emoreason.pipelines.caption import caption_inputs, expand_inputs
from emoreason.pipelines.video_options import VideoOptions

FAST = VideoOptions(no_speech=True, fps=2.0)


@pytest.fixture(scope="module")
def batch_dir(
    tmp_path_factory: pytest.TempPathFactory, face_video: Path, no_face_video: Path, bad_files: dict[str, Path]
) -> Path:
    d = tmp_path_factory.mktemp("batch")
    shutil.copy(face_video, d / "a_face.mp4")
    shutil.copy(no_face_video, d / "b_coffee.mp4")
    shutil.copy(no_face_video.with_suffix(".srt"), d / "b_coffee.srt")
    shutil.copy(bad_files["truncated_mp4"], d / "c_cut.mp4")
    shutil.copy(bad_files["not_media"], d / "d_notes.mp4")
    (d / "readme.md").write_text("not a video, not picked up from a directory")
    return d


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_expand_inputs(batch_dir: Path, tmp_path: Path) -> None:
    names = [Path(i.path).name for i in expand_inputs([str(batch_dir)])]
    assert names == ["a_face.mp4", "b_coffee.mp4", "c_cut.mp4", "d_notes.mp4"]
    assert [Path(i.path).name for i in expand_inputs([str(batch_dir / "[ab]_*.mp4")])] == [
        "a_face.mp4",
        "b_coffee.mp4",
    ]
    (tmp_path / "list.txt").write_text(f"# videos\n{batch_dir / 'a_face.mp4'}\n\n{batch_dir / 'a_face.mp4'}\n")
    (tmp_path / "m.csv").write_text(f"id,path\nclip-b,{batch_dir / 'b_coffee.mp4'}\n")
    (tmp_path / "m.jsonl").write_text(json.dumps({"video": str(batch_dir / "c_cut.mp4"), "id": "clip-c"}) + "\n")
    items = expand_inputs([str(tmp_path / "list.txt"), str(tmp_path / "m.csv"), str(tmp_path / "m.jsonl")])
    assert [i.id for i in items] == [str((batch_dir / "a_face.mp4").resolve()), "clip-b", "clip-c"]
    with pytest.raises(EmoreasonError, match="matches no files"):
        expand_inputs([str(tmp_path / "*.nothing")])


def test_batch_records_errors_and_carries_on(batch_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cap.jsonl"
    summary = caption_inputs([str(batch_dir)], out, options=FAST, srt_dir=tmp_path / "srt", progress=False)
    recs = lines(out)
    assert [r["status"] for r in recs] == ["ok", "no_face", "error", "error"]
    assert summary.counts == {"ok": 1, "no_face": 1, "error": 2} and summary.failed == 2
    ok, no_face, cut, notes = recs
    assert set(ok) >= {"id", "path", "status", "error", "duration", "tracks", "segments", "caption"}
    assert set(ok["segments"][0]) >= {"start", "end", "track", "aus", "transcript", "label", "raw"}
    assert ok["caption"] and ok["tracks"][0]["dominant"]
    assert "I am so happy." in " ".join(s["transcript"] for s in no_face["segments"])
    assert "truncated" in cut["error"] and "not a media file" in notes["error"]
    assert sorted(p.name for p in (tmp_path / "srt").iterdir()) == ["a_face.srt", "b_coffee.srt"]
    # a second run skips everything
    again = caption_inputs([str(batch_dir)], out, options=FAST, progress=False)
    assert again.skipped == 4 and sum(again.counts.values()) == 0 and len(lines(out)) == 4


def test_subtitle_files_say_what_the_lines_say(batch_dir: Path, tmp_path: Path) -> None:
    """The .srt/.vtt written per video are the subtitles of that video's JSON line, byte for byte; two videos with
    one name get the second a hashed name."""
    from emoreason.pipelines.video import subtitles_text
    from emoreason.schema import MediaResult

    twin = tmp_path / "twin"
    twin.mkdir()
    shutil.copy(batch_dir / "a_face.mp4", twin / "a_face.mp4")
    out, srt, vtt = tmp_path / "cap.jsonl", tmp_path / "srt", tmp_path / "vtt"
    inputs = [str(batch_dir / "a_face.mp4"), str(batch_dir / "b_coffee.mp4"), str(twin / "a_face.mp4")]
    caption_inputs(inputs, out, options=FAST, srt_dir=srt, vtt_dir=vtt, progress=False)
    recs = [MediaResult.model_validate(r) for r in lines(out)]
    stems = ["a_face", "b_coffee", sorted(p.stem for p in srt.iterdir())[1]]
    assert stems[2].startswith("a_face-") and len(list(srt.iterdir())) == 3
    for rec, stem in zip(recs, stems, strict=True):
        assert (srt / f"{stem}.srt").read_bytes() == subtitles_text(rec, "srt").encode()
        assert (vtt / f"{stem}.vtt").read_bytes() == subtitles_text(rec, "vtt").encode()
    assert "I am so happy." in (srt / "b_coffee.srt").read_text()


def test_summary_counts_errors_as_failed_not_captioned() -> None:
    from collections import Counter

    from emoreason.pipelines.caption import CaptionSummary

    mixed = CaptionSummary(out="c.jsonl", counts=Counter({"ok": 1, "no_face": 1, "error": 2}), skipped=3)
    assert mixed.text() == "2 captioned (no_face 1, ok 1), 2 failed; 3 already in c.jsonl, skipped -> c.jsonl"
    assert CaptionSummary(out="c.jsonl", counts=Counter({"error": 1})).text() == "0 captioned, 1 failed -> c.jsonl"
    assert CaptionSummary(out="c.jsonl", skipped=2).text() == "0 captioned; 2 already in c.jsonl, skipped -> c.jsonl"


def test_cli_missing_file_is_failed_not_captioned(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    res = CliRunner().invoke(app, ["caption", str(missing), "--out", str(tmp_path / "c.jsonl"), "--no-progress"])
    assert res.exit_code == 1, res.output
    assert f"0 captioned, 1 failed -> {tmp_path / 'c.jsonl'}" in res.output
    assert "1 captioned" not in res.output and "no such file" in res.output


def test_resume_after_a_torn_last_line(batch_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cap.jsonl"
    caption_inputs([str(batch_dir / "c_cut.mp4")], out, options=FAST, progress=False)
    with open(out, "a") as f:
        f.write('{"id": "half-written", "status": "o')  # a kill mid-write
    assert JsonlLog(out).done == {str((batch_dir / "c_cut.mp4").resolve())}
    assert out.read_text().endswith("}\n")  # the torn tail is gone
    caption_inputs([str(batch_dir / "c_cut.mp4"), str(batch_dir / "d_notes.mp4")], out, options=FAST, progress=False)
    assert [Path(r["path"]).name for r in lines(out)] == ["c_cut.mp4", "d_notes.mp4"]


def test_resume_with_other_settings_refuses(batch_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cap.jsonl"
    caption_inputs([str(batch_dir / "c_cut.mp4")], out, options=FAST, progress=False)
    assert json.loads((tmp_path / "cap.jsonl.settings.json").read_text())["settings"]["fps"] == 2.0
    other = VideoOptions(no_speech=True, fps=1.0)
    with pytest.raises(EmoreasonError, match=r"cap.jsonl was made with different settings \(fps: 2.0 then, 1.0 now\); "
                       r"use another --out, or delete .*cap.jsonl and cap.jsonl.settings.json"):  # fmt: skip
        caption_inputs([str(batch_dir / "d_notes.mp4")], out, options=other, progress=False)
    assert len(lines(out)) == 1
    caption_inputs([str(batch_dir / "d_notes.mp4")], out, options=FAST, workers=1, progress=False)  # same: resumes
    assert len(lines(out)) == 2


def test_kill_leaves_valid_jsonl_that_resumes(face_video: Path, tmp_path: Path) -> None:
    videos = []
    for i in range(4):
        videos.append(tmp_path / f"v{i}.mp4")
        shutil.copy(face_video, videos[-1])
    out = tmp_path / "cap.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "emoreason",
        "caption",
        *map(str, videos),
        "--out",
        str(out),
        "--no-speech",
        "--no-progress",
        "--fps",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or out.read_text().count("\n") < 1):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = lines(out)  # every line parses
    assert 1 <= len(first) <= 4
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    final = lines(out)
    assert sorted(Path(r["path"]).name for r in final) == [f"v{i}.mp4" for i in range(4)]
    assert final[: len(first)] == first


def test_workers_run_perception_in_processes(batch_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cap.jsonl"
    summary = caption_inputs([str(batch_dir)], out, options=FAST, workers=2, progress=False)
    assert summary.counts == {"ok": 1, "no_face": 1, "error": 2}
    by_name = {Path(r["path"]).name: r for r in lines(out)}
    assert by_name["a_face.mp4"]["segments"][0]["raw"].startswith("<think>")


def test_ray_engine_local(batch_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray.data")
    out = tmp_path / "cap.jsonl"
    files = [str(batch_dir / "a_face.mp4"), str(batch_dir / "d_notes.mp4")]
    summary = caption_inputs(files, out, options=FAST, engine="ray", workers=1, progress=False)
    assert summary.counts == {"ok": 1, "error": 1}
    assert {r["status"] for r in lines(out)} == {"ok", "error"}


def test_cli_end_to_end(batch_dir: Path, tiny_whisper: Path, tmp_path: Path) -> None:
    out, srt = tmp_path / "cap.jsonl", tmp_path / "subs"
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "caption",
            str(batch_dir / "a_face.mp4"),
            "--out",
            str(out),
            "--srt",
            str(srt),
            "--vtt",
            str(srt),
            "--whisper",
            str(tiny_whisper),
            "--language",
            "en",
            "--window",
            "3",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "1 captioned (ok 1)" in res.output
    rec = lines(out)[0]
    assert [(s["start"], s["end"]) for s in rec["segments"]] == [(0.0, 3.0), (3.0, 6.0)]
    assert any("hello" in s["transcript"] for s in rec["segments"]), (rec["notes"], rec["segments"])  # whisper words
    assert (srt / "a_face.srt").read_text().startswith("1\n00:00:00,000 --> 00:00:03,000\n")
    assert (srt / "a_face.vtt").read_text().startswith("WEBVTT")
    bad = runner.invoke(app, ["caption", str(batch_dir / "d_notes.mp4"), "--out", str(tmp_path / "bad.jsonl"),
                              "--no-progress"])  # fmt: skip
    assert bad.exit_code == 1 and "not a media file" in bad.output
    usage = runner.invoke(app, ["caption", "x.mp4", "--engine", "spark"])
    assert usage.exit_code == 2


def test_cli_missing_whisper_is_one_line(batch_dir: Path, tmp_path: Path) -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "emoreason",
            "caption",
            str(batch_dir / "a_face.mp4"),
            "--out",
            str(tmp_path / "c.jsonl"),
            "--whisper",
            "large-v3",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)},
        timeout=60,
    )
    assert res.returncode == 2  # a usage error, checked before any work (like --expression-model)
    assert res.stderr.strip().startswith("error: whisper model 'large-v3' is not in the local cache")
    assert "Traceback" not in res.stderr and not (tmp_path / "c.jsonl").exists()


def test_progress_names_the_file_being_worked_on(batch_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from rich.progress import Progress

    shown: list[str] = []
    add_task, update = Progress.add_task, Progress.update

    def record_add(self, description, *args, **kwargs):
        shown.append(description)
        return add_task(self, description, *args, **kwargs)

    def record_update(self, task_id, *args, description=None, **kwargs):
        shown.append(description)
        return update(self, task_id, *args, description=description, **kwargs)

    monkeypatch.setattr(Progress, "add_task", record_add)
    monkeypatch.setattr(Progress, "update", record_update)
    files = [str(batch_dir / "c_cut.mp4"), str(batch_dir / "d_notes.mp4")]
    caption_inputs(files, tmp_path / "cap.jsonl", options=FAST, progress=True)
    assert shown == ["c_cut.mp4", "d_notes.mp4", ""]  # not the file that just finished


def test_a_crashing_worker_costs_one_item(batch_dir: Path, tmp_path: Path) -> None:
    """A worker killed by a native crash breaks the pool; the innocent items in flight are rerun, only the culprit
    gets an error record, and the run finishes (before, the broken pool ended the run on every resume)."""
    from emoreason.pipelines.caption_engines import run_local
    from emoreason.pipelines.inputs import Item
    from emoreason.testing.media import crash_on_marker

    crash = tmp_path / "crash.mp4"
    shutil.copy(batch_dir / "d_notes.mp4", crash)
    items = [
        Item("notes", str(batch_dir / "d_notes.mp4")),
        Item("crash", str(crash)),
        Item("cut", str(batch_dir / "c_cut.mp4")),
    ]
    results = {r.id: r for r in run_local(items, None, FAST, workers=2, job=crash_on_marker)}
    assert set(results) == {"notes", "crash", "cut"}
    assert "worker process crashed" in results["crash"].error
    assert "not a media file" in results["notes"].error and "truncated" in results["cut"].error


_CRASH_RUN = """
import os, sys
from pathlib import Path
import emoreason.pipelines.caption as cap
import emoreason.pipelines.caption_engines as engines
from emoreason.pipelines.video_options import VideoOptions
real = engines.caption_one
def caption_one(item, reasoner, options):
    if "crash" in Path(item["path"]).name:
        os._exit(3)  # what a segfault in a decoder does to the whole process
    return real(item, reasoner, options)
engines.caption_one = caption_one
cap.caption_inputs(sys.argv[2:], sys.argv[1], options=VideoOptions(no_speech=True, fps=2.0), progress=False)
"""


def test_a_file_that_kills_the_single_process_run_is_recorded_after_two_deaths(
    batch_dir: Path, tmp_path: Path
) -> None:
    """Without --workers a native crash ends the run; resuming must not die on the same file forever: after two
    deaths on one file the next run records it as an error and finishes the rest."""
    crash = tmp_path / "b_crash.mp4"
    shutil.copy(batch_dir / "d_notes.mp4", crash)
    out = tmp_path / "captions.jsonl"
    inputs = [str(batch_dir / "d_notes.mp4"), str(crash), str(batch_dir / "c_cut.mp4")]
    run = [sys.executable, "-c", _CRASH_RUN, str(out), *inputs]
    for _ in range(2):
        assert subprocess.run(run, capture_output=True, timeout=120).returncode == 3
        assert [r["path"] for r in lines(out)] == [inputs[0]]
    assert json.loads((tmp_path / "captions.jsonl.inflight").read_text())["deaths"] == 1
    done = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    records = {Path(r["path"]).name: r for r in lines(out)}
    assert set(records) == {"d_notes.mp4", "b_crash.mp4", "c_cut.mp4"}
    assert records["b_crash.mp4"]["status"] == "error" and "died 2 times" in records["b_crash.mp4"]["error"]
    assert not (tmp_path / "captions.jsonl.inflight").exists()


def test_caption_explain_modalities_writes_each_segment_once_and_says_so_on_a_resume(
    face_video: Path, tmp_path: Path
) -> None:
    out, runner = tmp_path / "caps.jsonl", CliRunner()
    first = runner.invoke(app, ["caption", str(face_video), "--out", str(out), "--explain-modalities"])
    assert first.exit_code == 0, first.output
    side = tmp_path / "caps.modalities.jsonl"
    lines = side.read_text().splitlines()
    assert lines and f"attribution of {len(lines)} segments to {side}" in first.stdout
    again = runner.invoke(app, ["caption", str(face_video), "--out", str(out), "--explain-modalities"])
    assert again.exit_code == 0 and "no new segments" in again.stdout and "| removed |" not in again.stdout
    assert side.read_text().splitlines() == lines
