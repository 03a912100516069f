"""Streaming decode, sampling by pts, rotation, 16 kHz audio, and every bad-input case."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from emoreason.errors import EmoreasonError
from emoreason.perception import media
from emoreason.testing import media as tm


def test_probe_face_video(face_video: Path) -> None:
    info = media.probe(face_video)
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (640, 360)
    assert info.duration == pytest.approx(6.0, abs=0.1)
    assert info.fps == pytest.approx(25.0)


def test_a_pyav_without_metadata_errors_still_opens(face_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """av 19 (what Python 3.12 installs) dropped ``av.open(metadata_errors=...)``; emoreason must still read videos."""
    import av

    real = av.open

    def av19_open(file, mode="r", **kwargs):  # type: ignore[no-untyped-def]
        if "metadata_errors" in kwargs:
            raise TypeError("open() got an unexpected keyword argument 'metadata_errors'")
        return real(file, mode, **kwargs)

    monkeypatch.setattr(av, "open", av19_open)
    assert media.probe(face_video).has_video


def test_frames_sampled_at_target_rate(face_video: Path) -> None:
    frames = list(media.iter_frames(face_video, fps=4.0))
    assert len(frames) == 24
    times = [f.time for f in frames]
    assert times == sorted(times)
    assert np.diff(times).max() < 0.3  # never more than one sampling interval (+ a source frame)
    assert frames[0].image.shape == (360, 640, 3) and frames[0].image.dtype == np.uint8
    assert [f.index for f in frames] == list(range(24))


def test_every_frame_and_downscale(face_video: Path) -> None:
    frames = list(media.iter_frames(face_video, fps=None, max_side=320, end=1.0))
    assert len(frames) == 26  # 0.00 .. 1.00 s at 25 fps
    assert frames[0].image.shape == (180, 320, 3)


def test_variable_frame_rate_uses_timestamps(tmp_path: Path) -> None:
    # 30 frames bunched in the first second, then 5 frames spread over the next 4 s.
    times = [i / 30 for i in range(30)] + [1.0 + i for i in range(1, 6)]
    path = tm.write_video(tmp_path / "vfr.mkv", lambda t: tm.face_frame(t), 6.0, fps=30, frame_times=times)
    frames = list(media.iter_frames(path, fps=2.0))
    got = [round(f.time, 2) for f in frames]
    assert got[0] == 0.0
    assert got[1] == pytest.approx(0.5, abs=0.04)
    assert got[-5:] == [2.0, 3.0, 4.0, 5.0, 6.0]  # sparse part: every frame, at its own time


def test_rotation_metadata_applied(tmp_path: Path) -> None:
    def marked(t: float) -> np.ndarray:
        img = np.zeros((120, 200, 3), np.uint8)
        img[:30, :30] = (255, 0, 0)  # red top-left corner
        return img

    path = tm.write_video(tmp_path / "rot.mp4", marked, 0.4, fps=10, rotation=90)
    info = media.probe(path)
    assert info.rotation == 90 and (info.width, info.height) == (120, 200)
    img = next(media.iter_frames(path)).image
    assert img.shape == (200, 120, 3)
    # 90 degrees counter-clockwise: the top-left corner ends up bottom-left
    assert img[-10:, :10, 0].mean() > 150 and img[:10, :10, 0].mean() < 60


def test_audio_16k_mono_float32(face_video: Path) -> None:
    audio = media.load_audio(face_video)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.size / media.SAMPLE_RATE == pytest.approx(6.0, abs=0.1)
    assert 0.05 < np.abs(audio).max() <= 1.0
    chunks = list(media.iter_audio(face_video, chunk_seconds=2.0))
    assert [round(start, 3) for start, _ in chunks][:3] == [0.0, 2.0, 4.0]
    assert all(c.size == 32000 for _, c in chunks[:-1])
    assert np.allclose(np.concatenate([c for _, c in chunks]), audio)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("audio_only", "no video stream"),
        ("zero_length", "empty (zero length)"),
        ("truncated_mp4", "truncated, corrupt, or an unsupported format"),
        ("not_media", "not a media file"),
        ("unsupported", "truncated, corrupt, or an unsupported format"),
        ("missing", "no such file"),
    ],
)
def test_bad_inputs_raise_clear_errors(bad_files: dict[str, Path], case: str, message: str) -> None:
    with pytest.raises(EmoreasonError, match=re.escape(message)) as info:
        list(media.iter_frames(bad_files[case]))
    assert str(bad_files[case]) in str(info.value)


def test_image_and_subtitle_files_are_not_videos(tmp_path: Path, face_photo: Path) -> None:
    with pytest.raises(EmoreasonError, match="an image, not a video"):
        media.probe(face_photo)
    srt = tmp_path / "talk.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n")
    with pytest.raises(EmoreasonError, match="subtitle file"):
        media.probe(srt)


def test_no_audio_track(no_audio_video: Path) -> None:
    assert not media.probe(no_audio_video).has_audio
    with pytest.raises(EmoreasonError, match="no audio track"):
        media.load_audio(no_audio_video)


def test_truncated_stream_decodes_what_is_there(bad_files: dict[str, Path]) -> None:
    report = media.DecodeReport()
    frames = list(media.iter_frames(bad_files["truncated_mkv"], report=report))
    assert 0 < len(frames) < 16
    assert report.truncated_at is not None and "truncated" in report.notes[0]


def test_raw_stream_without_timestamps_or_duration(tmp_path: Path) -> None:
    """A raw H.264 stream has no container duration and its frames carry no timestamps: times come from the frame
    rate, the duration from the packets (before: no frame was ever sampled and the duration was unknown)."""
    path = tm.write_video(tmp_path / "raw.h264", lambda t: np.full((96, 160, 3), int(100 * t), np.uint8), 2.0, fps=25)
    info = media.probe(path)
    assert info.container == "h264" and info.duration == pytest.approx(2.0, abs=0.2)
    times = [f.time for f in media.iter_frames(path, fps=4.0)]
    assert len(times) == 8 and times[0] == 0.0 and times[-1] == pytest.approx(1.76, abs=0.05)


def test_speech_falls_back_to_tones_without_espeak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on PATH
    assert not tm.have_espeak()
    assert np.array_equal(tm.speech_track(2.0, "hello there"), tm.tone_speech(2.0))


@pytest.mark.skipif(not tm.have_espeak(), reason="espeak-ng not installed (apt-get install espeak-ng)")
def test_espeak_speech_is_voiced() -> None:
    from emoreason.perception.prosody import ProsodyTrack

    audio = tm.speech_track(2.5, "hello there, how are you")
    track = ProsodyTrack()
    track.add(0.0, audio)
    cues = track.cues(0.0, 2.5)
    assert cues.pitch_mean_hz and 60 < cues.pitch_mean_hz < 250
    assert audio[: int(0.25 * tm.SR)].max() == 0.0 and np.abs(audio).max() > 0.1  # placed at 0.3 s


def test_decode_caps_hold_for_what_is_decoded_not_the_header(tmp_path: Path, no_audio_video: Path) -> None:
    grows = tm.make_growing_frames(tmp_path / "grows.ts", small=(64, 64), large=(320, 240))
    assert (media.probe(grows).width, media.probe(grows).height) == (64, 64)  # what a header check sees
    assert {f.image.shape[:2] for f in media.iter_frames(grows, fps=None)} == {(64, 64), (240, 320)}
    with pytest.raises(media.DecodeLimitError, match=r"320x240 .* over the 0.01 MP cap \(its header says 64x64\)"):
        list(media.iter_frames(grows, fps=None, max_pixels=10_000))
    long = tm.make_short_header(tm.make_face_video(tmp_path / "long.mp4", seconds=4.0), tmp_path / "lies.mp4")
    assert media.probe(long).duration == pytest.approx(1.0, abs=0.1)
    with pytest.raises(media.DecodeLimitError, match=r"frames go on past 2 s, .*header says 1.0 s"):
        list(media.iter_frames(long, max_seconds=2.0))
    with pytest.raises(media.DecodeLimitError, match=r"audio goes on past 2 s"):
        list(media.iter_audio(long, max_seconds=2.0))
    assert len(list(media.iter_frames(long, fps=4.0, max_seconds=4.0))) == 16  # under the caps: every frame
    assert len(list(media.iter_frames(no_audio_video, fps=4.0, max_pixels=640 * 360, max_seconds=4.0))) == 16
