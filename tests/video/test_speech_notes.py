"""Issue 27 item 2: speech skipped for want of a whisper model is said once, on stderr, with the fix; the chat's
"what did she say?" names that cause; chat and serve take --whisper like caption."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emoreason.cli import app
from emoreason.pipelines.caption import caption_inputs
from emoreason.pipelines.video import video_evidence
from emoreason.pipelines.video_options import VideoOptions


@pytest.fixture
def no_whisper_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # whisper's 'base' is surely not there
    return tmp_path


def test_caption_says_once_which_videos_skip_speech_and_the_fix(
    no_whisper_cache: Path, face_video: Path, no_face_video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clips = no_whisper_cache / "clips"
    clips.mkdir()
    shutil.copy(face_video, clips / "a.mp4")
    shutil.copy(face_video, clips / "b.mp4")
    (clips / "b.srt").write_text("1\n00:00:00,500 --> 00:00:02,000\nhello there\n")  # b has its words
    with caplog.at_level(logging.WARNING, logger="emoreason.pipelines.caption"):
        summary = caption_inputs([str(clips)], no_whisper_cache / "c.jsonl", options=VideoOptions(fps=2.0),
                                 progress=False)  # fmt: skip
    assert summary.counts["ok"] == 2
    said = [r.getMessage() for r in caplog.records if "speech skipped" in r.getMessage()]
    assert len(said) == 1, said
    assert said[0].startswith("speech skipped in 1 of 2 videos (no transcript file): no --whisper given")
    assert "whisper.load_model('base')" in said[0] and "--whisper NAME|PATH" in said[0]


def test_chat_answers_what_was_said_with_the_cause(no_whisper_cache: Path, face_video: Path) -> None:
    from emoreason.chat.session import ChatSession
    from emoreason.reasoning.rules import RuleReasoner

    evidence = video_evidence(face_video, whisper=None, window=2.0)
    assert evidence and all(ev.meta["no_words"].startswith("speech skipped: no --whisper given") for ev in evidence)
    said: list[str] = []
    session = ChatSession(RuleReasoner(), write=said.append)
    session.attach_video_evidence(evidence, "clip.mp4")
    assert "Note: speech skipped: no --whisper given" in said[-1]
    assert "reach the model" not in said[-1]  # the rule engine reads no image: no note about images left out
    answer = session.ask("What did she say?")
    assert "no --whisper given" in answer and "whisper.load_model('base')" in answer
    assert "no audio, no whisper model, or no subtitles" not in answer


def test_no_audio_track_is_the_cause_said(no_audio_video: Path) -> None:
    evidence = video_evidence(no_audio_video, whisper=None, window=2.0)
    assert evidence and evidence[0].meta["no_words"] == "the video has no audio track"


@pytest.mark.parametrize("command", ["serve", "chat", "caption"])
def test_whisper_option_everywhere_checked_up_front(command: str, no_whisper_cache: Path) -> None:
    """`serve --whisper base` said "No such option" while the server's own note told users to pass it."""
    runner = CliRunner()
    assert "--whisper" in runner.invoke(app, [command, "--help"]).output
    args = [command, "--whisper", str(no_whisper_cache / "nope.pt")] + (["x.mp4"] if command == "caption" else [])
    res = runner.invoke(app, args, input="")
    assert res.exit_code == 2, res.output
    assert "whisper checkpoint" in res.output and "not found" in res.output
