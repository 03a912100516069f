"""SRT/VTT reading (lenient) and writing (emotion subtitles)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoreason.errors import EmoreasonError
from emoreason.perception.subtitles import Cue, find_sidecar, parse_subtitles, read_subtitles, write_subtitles

SRT = (
    "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i> there,\r\nfriend.\r\n\r\n"
    "2\r\n01:00:03,5 --> 01:00:04,000\r\nBye &amp; bye\r\n"
)
VTT = """WEBVTT

NOTE a comment --> not a cue

intro
00:01.000 --> 00:02.000 align:start position:10%
<v Alice>I'm <b>so</b> happy</v>

00:00:02.500 --> 00:00:03.000
second
"""


def test_parse_srt() -> None:
    cues = parse_subtitles(SRT)
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.0, 2.5, "Hello there, friend."),
        (3603.5, 3604.0, "Bye & bye"),
    ]


def test_parse_vtt() -> None:
    cues = parse_subtitles(VTT)
    assert [(c.start, c.end, c.text) for c in cues] == [(1.0, 2.0, "I'm so happy"), (2.5, 3.0, "second")]


@pytest.mark.parametrize("ext", [".srt", ".vtt"])
def test_write_roundtrip(tmp_path: Path, ext: str) -> None:
    cues = [Cue(0.0, 1.25, "happiness (AU12, AU6)\nWhat a day"), Cue(3661.5, 3662.0, "neutral")]
    path = write_subtitles(tmp_path / f"out{ext}", cues)
    text = path.read_text()
    assert text.startswith("WEBVTT") if ext == ".vtt" else text.startswith("1\n00:00:00,000 --> 00:00:01,250")
    assert ("01:01:01.500" if ext == ".vtt" else "01:01:01,500") in text
    back = read_subtitles(path)
    assert [(u.start, u.end, u.text) for u in back] == [
        (0.0, 1.25, "happiness (AU12, AU6) What a day"),
        (3661.5, 3662.0, "neutral"),
    ]
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temp file


def test_sidecar_and_errors(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    assert find_sidecar(video) is None
    (tmp_path / "clip.en.vtt").write_text(VTT)
    assert find_sidecar(video) == tmp_path / "clip.en.vtt"
    (tmp_path / "clip.srt").write_text(SRT)
    assert find_sidecar(video) == tmp_path / "clip.srt"
    (tmp_path / "empty.srt").write_text("nothing here\n")
    with pytest.raises(EmoreasonError, match="no subtitle cues"):
        read_subtitles(tmp_path / "empty.srt")
    with pytest.raises(EmoreasonError, match="not found"):
        read_subtitles(tmp_path / "nope.srt")


def test_speech_only_cues_say_no_face_instead_of_a_label() -> None:
    from emoreason.pipelines.timeline import subtitle_cues
    from emoreason.schema import SegmentResult

    segments = [
        SegmentResult(start=0.0, end=2.0, track=None, label="neutral", transcript="Pass the salt."),
        SegmentResult(start=2.0, end=4.0, track=None, label="happiness", transcript="I am so happy!"),
        SegmentResult(start=4.0, end=6.0, track=1, label="happiness", aus={"AU12": 3.0}),
    ]
    texts = [cue.text for cue in subtitle_cues(segments, [1])]
    assert texts == [
        "(no face)\nPass the salt.",
        "(no face) happiness in the words\nI am so happy!",
        "happiness (AU12)",
    ]
