"""The video agent end to end on generated clips: tracks, segments, evidence, caption, subtitles, no face."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoreason.errors import EmoreasonError
from emoreason.perception.subtitles import Cue
from emoreason.perception.subtitles import write_subtitles as write_subtitles_file
from emoreason.pipelines.video import (
    VideoOptions,
    caption_video,
    perceive_video,
    video_evidence,
    write_subtitles,
)
from emoreason.pipelines.windows import plan_segments
from emoreason.reasoning.base import build_reasoner
from emoreason.schema import Utterance


@pytest.fixture(scope="module")
def rules():
    return build_reasoner("rules")


@pytest.fixture(scope="module")
def windowed(face_video: Path, rules):
    """The face clip in 1 s windows, speech skipped: the expression cycle shows up as label changes."""
    return caption_video(face_video, rules, VideoOptions(window=1.0, no_speech=True))


def test_face_clip_result(windowed) -> None:
    r = windowed
    assert r.status == "ok" and r.error is None and r.duration == pytest.approx(6.0)
    assert [t["track"] for t in r.tracks] == [1]
    assert r.tracks[0]["frames"] == 24
    assert [(s.start, s.end) for s in r.segments] == [(float(i), float(i + 1)) for i in range(6)]
    assert all(s.track == 1 and s.label and s.raw.startswith("<think>") for s in r.segments)
    # The smiling face opens its mouth and widens its eyes at 1-3 s and 5-6 s: still a smile (an excited smile is
    # not surprise), but the AUs of those segments show it.
    assert all(s.label == "happiness" for s in r.segments), [s.label for s in r.segments]
    assert any(s.aus.get("AU26", 0.0) >= 1.0 for s in r.segments[1:3] + r.segments[5:])
    assert r.segments[0].aus.get("AU26", 0.0) < 1.0
    timeline = r.tracks[0]["timeline"]
    assert len(timeline) >= 1 and timeline[0]["start"] == 0.0 and timeline[-1]["end"] == 6.0
    assert r.tracks[0]["dominant"] == "happiness"
    assert "speech skipped (--no-speech)" in r.notes


def test_temporal_caption_is_ordered_and_scorable(windowed) -> None:
    from emoreason.eval.temporal import extract_events

    cap = windowed.caption
    assert cap.startswith("The person smiles") and "at 1.0 s" in cap and "at 3.0 s" in cap
    events = [str(e) for e in extract_events(cap)]
    assert any(e.startswith("AU") for e in events) and any(e.startswith("not AU") for e in events)
    # the emotion events follow the timeline's labels in order
    emotions = [e for e in events if not e.startswith(("AU", "not AU"))]
    assert emotions == [t["label"] for t in windowed.tracks[0]["timeline"]]


def test_evidence_has_crop_change_text_and_prosody(face_video: Path) -> None:
    evidence = video_evidence(face_video, whisper=None, window=2.0)
    assert len(evidence) == 3 and all(ev.track == 1 for ev in evidence)
    ev = evidence[1]  # 2-4 s: the mouth closes again after the peak
    assert ev.images and ev.images[0].size == (224, 224)
    assert ev.au_text.startswith("AU") and ". Over 2.0-4.0 s: " in ev.au_text and "falls from" in ev.au_text
    assert ev.prosody and "pitch" in ev.prosody  # tone speech -> measured pitch
    assert ev.meta["frames"] == 8 and 2.0 <= ev.meta["peak_time"] < 4.0


def test_no_face_keeps_the_transcript(no_face_video: Path, rules) -> None:
    r = caption_video(no_face_video, rules)
    assert r.status == "no_face" and not r.tracks
    assert any("coffee.srt" in n for n in r.notes)
    text = " ".join(s.transcript for s in r.segments)
    assert "Is anybody there?" in text and "I am so happy." in text
    assert all(s.track is None for s in r.segments)
    happy = next(s for s in r.segments if "happy" in s.transcript)
    assert happy.label and '"I am so happy."' in happy.raw  # speech-only evidence still goes to the reasoner


def test_no_audio_is_noted(no_audio_video: Path, rules) -> None:
    r = caption_video(no_audio_video, rules)
    assert r.status == "ok" and "no audio track: speech and prosody skipped" in r.notes
    assert all(s.transcript == "" and s.prosody == "" for s in r.segments)
    assert len(r.tracks) == 1  # one track through the 0.5 s miss


def test_transcript_option_and_subtitle_export(face_video: Path, rules, tmp_path: Path) -> None:
    srt = tmp_path / "words.srt"
    srt.write_text(
        "1\n00:00:00,500 --> 00:00:02,500\nOh wow, look at that!\n\n"
        "2\n00:00:03,000 --> 00:00:05,500\nThat is wonderful.\n"
    )
    r = caption_video(face_video, rules, VideoOptions(transcript=str(srt)))
    spans = [(s.start, s.end) for s in r.segments]
    # speech-aligned segments; the short silences before, between and after the lines join them (issue 27 item 6)
    assert spans == [(0.0, 3.0), (3.0, 6.0)]
    assert r.segments[0].transcript == "Oh wow, look at that!"
    out = write_subtitles(r, tmp_path / "face.srt").read_text()
    assert "00:00:00,000 --> 00:00:03,000" in out and "Oh wow, look at that!" in out
    assert f"\n{r.segments[0].label}" in out
    vtt = write_subtitles(r, tmp_path / "face.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "00:00:03.000 --> 00:00:06.000" in vtt


def test_bad_media_is_an_error_result(bad_files: dict[str, Path], rules) -> None:
    r = caption_video(bad_files["audio_only"], rules)
    assert r.status == "error" and "no video stream" in r.error
    with pytest.raises(EmoreasonError):
        perceive_video(bad_files["not_media"])


def test_explicit_missing_whisper_raises(face_video: Path, tmp_path: Path) -> None:
    with pytest.raises(EmoreasonError, match="not found"):
        perceive_video(face_video, VideoOptions(whisper=str(tmp_path / "nope.pt")))


def test_plan_segments() -> None:
    assert plan_segments(10.0, [], 4.0) == [(0.0, 4.0), (4.0, 8.0), (8.0, 10.0)]
    assert plan_segments(9.0, [], None) == [(0.0, 4.0), (4.0, 9.0)]  # a short tail folds into the last window
    utts = [Utterance(text="a", start=0.2, end=1.0), Utterance(text="b", start=4.0, end=6.0)]
    assert plan_segments(8.0, utts, None) == [(0.0, 1.0), (1.0, 4.0), (4.0, 6.0), (6.0, 8.0)]


def test_plan_segments_cover_the_video_before_and_between_words() -> None:
    """Issue 27 item 6: a transcript whose first words start at 1 s (under GAP_FILL) lost 0-1 s, and a 1 s pause
    between two lines was in no segment: the timeline and the subtitles had holes."""
    utts = [Utterance(text="a", start=1.0, end=4.0), Utterance(text="b", start=5.0, end=8.0)]
    spans = plan_segments(9.0, utts, None)
    assert spans == [(0.0, 5.0), (5.0, 9.0)]
    covered = [b - a for a, b in spans]
    assert sum(covered) == pytest.approx(9.0) and all(x[1] == y[0] for x, y in zip(spans, spans[1:], strict=False))


def test_speech_clip_through_whisper(speech_video: Path, tiny_whisper: Path, rules) -> None:
    """A face that speaks (espeak-ng when installed, else tone speech): utterances from the tiny whisper drive the
    segments, and every spoken segment carries its words and prosody."""
    r = caption_video(speech_video, rules, VideoOptions(whisper=str(tiny_whisper), language="en"))
    assert r.status == "ok" and len(r.tracks) == 1
    spoken = [s for s in r.segments if s.transcript]
    assert spoken and all(s.transcript.startswith("hello") for s in spoken)
    assert any("pitch" in s.prosody for s in r.segments)


def test_segments_without_a_face_keep_their_words(no_audio_video: Path, rules, tmp_path: Path) -> None:
    """The face is hidden at 1.5-2.0 s; what is said then still reaches the result (as speech-only evidence)."""
    srt = tmp_path / "t.srt"
    srt.write_text("1\n00:00:00,200 --> 00:00:01,200\nThere she is.\n\n2\n00:00:01,550 --> 00:00:01,950\nGone!\n")
    r = caption_video(no_audio_video, rules, VideoOptions(transcript=str(srt)))
    gone = [s for s in r.segments if s.transcript == "Gone!"]
    assert len(gone) == 1 and gone[0].track is None and gone[0].label
    assert any(s.transcript == "There she is." and s.track == 1 for s in r.segments)
    assert r.status == "ok"


def test_overlapping_cues_all_get_a_peak_crop(face_video: Path, tmp_path: Path) -> None:
    """A long cue overlapping many short ones (two speakers) must not hide the later ones from the frame loop."""
    cues = [(0.0, 5.5, "A long narration.")] + [(0.5 + i, 1.0 + i, f"short {i}") for i in range(5)]
    srt = write_subtitles_file(tmp_path / "overlap.srt", [Cue(a, b, t) for a, b, t in cues])
    perc = perceive_video(face_video, VideoOptions(transcript=str(srt)))
    assert len(perc.evidence) == 6
    assert set(perc.crops) == {ev.id for ev in perc.evidence}
    late = next(ev for ev in perc.evidence if ev.start == 4.5)
    assert 4.5 <= late.meta["peak_time"] < 5.0
