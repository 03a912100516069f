"""Session-scoped media for the video tests, all generated with PyAV (see emoreason.testing.media)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from emoreason.testing import media as tm


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("video_media")


@pytest.fixture(scope="session")
def face_video(media_dir: Path) -> Path:
    """6 s, 640x360, 25 fps: the astronaut drifting sideways, mouth opening and brows lifting every 4 s; tone track."""
    return tm.make_face_video(media_dir / "face.mp4", seconds=6.0, audio="tone")


@pytest.fixture(scope="session")
def no_audio_video(media_dir: Path) -> Path:
    """4 s face clip with no audio track; the face is hidden for 0.5 s (a short miss for the tracker)."""
    return tm.make_face_video(media_dir / "silent_face.mp4", seconds=4.0, audio=None, hide=(1.5, 2.0))


@pytest.fixture(scope="session")
def no_face_video(media_dir: Path) -> Path:
    """3 s of a coffee cup panning, with a tone-speech track and a sidecar .srt transcript."""
    path = tm.make_no_face_video(media_dir / "coffee.mp4", seconds=3.0, audio="tone")
    path.with_suffix(".srt").write_text(
        "1\n00:00:00,300 --> 00:00:01,400\nIs anybody there?\n\n2\n00:00:01,600 --> 00:00:02,800\nI am so happy.\n"
    )
    return path


@pytest.fixture(scope="session")
def speech_video(media_dir: Path) -> Path:
    """A face with speech: espeak-ng when installed, else the tone track (plumbing only)."""
    return tm.make_face_video(media_dir / "speech.mp4", seconds=4.0, audio="speech", text="What a wonderful surprise!")


@pytest.fixture(scope="session")
def bad_files(media_dir: Path, face_video: Path) -> dict[str, Path]:
    """One file per bad-input case of the issue."""
    d = media_dir / "bad"
    d.mkdir()
    mkv = tm.make_face_video(d / "source.mkv", seconds=4.0, audio="tone")
    zip_path = d / "archive.mkv"
    with zipfile.ZipFile(zip_path, "w") as zf:  # a fixed member date: the same bytes every run (FFmpeg's probe
        zf.writestr(zipfile.ZipInfo("a.txt", (2020, 1, 1, 0, 0, 0)), "not a video " * 200)  # saw a stream in some)
    files = {
        "audio_only": tm.make_audio_only(d / "voice.m4a"),
        "zero_length": tm.make_zero_length(d / "empty.mp4"),
        "truncated_mp4": tm.make_truncated(face_video, d / "cut.mp4", 0.5),
        "truncated_mkv": tm.make_truncated(mkv, d / "cut.mkv", 0.6),
        "not_media": tm.make_not_media(d / "notes.mp4"),
        "unsupported": zip_path,
        "missing": d / "missing.mp4",
    }
    mkv.unlink()
    return files


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer randomly initialised whisper checkpoint in whisper's own format ("says" hello)."""
    from emoreason.testing.whisper import make_tiny_whisper

    return make_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny-random.pt")
