"""Prosody on synthetic tones with known pitch, loudness, pauses and word timing."""

from __future__ import annotations

import numpy as np
import pytest

from emoreason.perception.prosody import ProsodyTrack, describe
from emoreason.schema import ProsodyCues

SR = 16000


def voiced(f0: float, seconds: float, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * f0 * t
    return (amp * sum(np.sin(k * phase) / k for k in range(1, 5))).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), np.float32)


@pytest.fixture(scope="module")
def track() -> ProsodyTrack:
    # 0-2 s: 120 Hz loud; 3-5 s: 240 Hz quiet; 6-8 s: 180 Hz with 50% pauses; fed in 2 chunks.
    gappy = np.concatenate([voiced(180, 0.25), silence(0.25)] * 4)
    audio = np.concatenate([voiced(120, 2), silence(1), voiced(240, 2, amp=0.05), silence(1), gappy])
    tr = ProsodyTrack()
    tr.add(0.0, audio[: 4 * SR])
    tr.add(4.0, audio[4 * SR :])
    return tr


def test_known_pitch(track: ProsodyTrack) -> None:
    assert track.cues(0.2, 1.8).pitch_mean_hz == pytest.approx(120, abs=1.5)
    assert track.cues(3.2, 4.8).pitch_mean_hz == pytest.approx(240, abs=3)
    assert track.cues(6.0, 8.0).pitch_mean_hz == pytest.approx(180, abs=2)
    assert track.cues(0.2, 1.8).pitch_range_semitones < 0.5  # a steady tone is flat


def test_pitch_range_of_a_glide() -> None:
    t = np.arange(2 * SR) / SR
    f = 150 * 2 ** (t / 2)  # one octave up over 2 s
    x = (0.3 * np.sin(2 * np.pi * np.cumsum(f) / SR)).astype(np.float32)
    tr = ProsodyTrack()
    tr.add(0.0, x)
    cues = tr.cues(0, 2)
    assert cues.pitch_range_semitones == pytest.approx(12 * 0.8, abs=0.6)  # 10th..90th percentile of 12 st
    assert "widely varying" in cues.text


def test_relative_words_energy_and_pauses(track: ProsodyTrack) -> None:
    low, high = track.cues(0.2, 1.8), track.cues(3.2, 4.8)
    assert low.energy_db - high.energy_db == pytest.approx(20 * np.log10(0.3 / 0.05), abs=1.0)
    # relative to this speaker: the loud parts are their norm, the 240 Hz part is high and quiet
    assert low.text.startswith("low, flat pitch (120 Hz); normal loudness")
    assert high.text.startswith("high, flat pitch (240 Hz); quiet")
    # 3 of the 7 quarter-seconds between the first and the last voiced frame are silent (window smear: a bit less)
    assert track.cues(6.0, 8.0).pause_ratio == pytest.approx(3 / 7, abs=0.08)
    assert track.cues(0.2, 1.8).pause_ratio == 0.0
    assert "few pauses" in low.text


def test_speaking_rate_from_word_timestamps(track: ProsodyTrack) -> None:
    words = [{"word": w, "start": 0.2 + 0.25 * i, "end": 0.4 + 0.25 * i} for i, w in enumerate("a b c d e f".split())]
    cues = track.cues(0.0, 2.0, words)
    assert cues.speaking_rate_wps == pytest.approx(6 / (words[-1]["end"] - words[0]["start"]), rel=1e-3)
    assert "fast speech (4.1 words/s)" in cues.text
    assert track.cues(0.0, 2.0, text="just two").speaking_rate_wps == 1.0  # no timestamps: words / duration


def test_silence_and_empty() -> None:
    tr = ProsodyTrack()
    tr.add(0.0, silence(1.0))
    cues = tr.cues(0, 1)
    assert cues.pitch_mean_hz is None and cues.text == ""
    assert ProsodyTrack().cues(0, 1) == ProsodyCues()
    assert describe(ProsodyCues(speaking_rate_wps=1.2)) == "slow speech (1.2 words/s)"


def test_prosody_alone_reads_the_audio_in_short_chunks_and_whisper_in_long_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without whisper the audio is only the prosody track's: it is decoded PROSODY_CHUNK seconds at a time, so its
    working memory does not grow with the video (a 600 s clip peaked 7 % above a 60 s one with 120 s chunks);
    whisper keeps VideoOptions.audio_chunk. The track is the same as from one long chunk but for the chunk ends."""
    from pathlib import Path

    from emoreason.perception import media
    from emoreason.pipelines import video_speech
    from emoreason.pipelines.video_options import VideoOptions

    audio = np.concatenate([voiced(180, 25.0), silence(5.0), voiced(220, 20.0)])
    asked: list[float] = []

    def fake_audio(path, chunk_seconds, report=None):  # noqa: ANN001, ANN202
        asked.append(chunk_seconds)
        step = int(chunk_seconds * SR)
        for i in range(0, audio.size, step):
            yield i / SR, audio[i : i + step]

    monkeypatch.setattr(media, "iter_audio", fake_audio)
    options = VideoOptions()
    _, short = video_speech.read_audio(Path("x.mp4"), options, None, [])
    _, long = video_speech.read_audio(Path("x.mp4"), options, lambda chunk, offset: [], [])
    assert asked == [video_speech.PROSODY_CHUNK, options.audio_chunk] and video_speech.PROSODY_CHUNK < 60
    a, b = short.cues(0.0, 25.0), long.cues(0.0, 25.0)
    assert a.pitch_mean_hz == pytest.approx(b.pitch_mean_hz, rel=0.01)
    assert a.pitch_mean_hz == pytest.approx(180, rel=0.05)
