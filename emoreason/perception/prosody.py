"""Prosody cues per segment: pitch level and range, loudness, speaking rate and pauses, as short prompt text.

Audio is reduced once, chunk by chunk, to a 100 Hz feature track (F0 by YIN, de Cheveigné & Kawahara 2002, and
RMS energy in dB), so a 3-hour file costs about 9 MB here. Segment cues are then read from that track. Words are
"high"/"low"/"loud"/"quiet" relative to the speaker's own median over the whole file, not an absolute scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emoreason.schema import ProsodyCues

SR = 16000
HOP = 160  # 10 ms
WIN = 512  # 32 ms analysis window
FMIN, FMAX = 60.0, 500.0
YIN_THRESHOLD = 0.15  # a frame is voiced when its best CMNDF dip is below this
VOICED_MAX = 0.35
BLOCK = 128  # frames analysed together: ~5 MB of FFT buffers, beside the faces pass (512: 10 MB more peak)


def _frames(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    n = 1 + max(0, (x.size - length) // hop) if x.size >= length else 0
    if n == 0:
        return np.zeros((0, length), x.dtype)
    return np.lib.stride_tricks.as_strided(x, (n, length), (x.strides[0] * hop, x.strides[0]), writeable=False)


def yin_f0(frames: np.ndarray, sr: int = SR, fmin: float = FMIN, fmax: float = FMAX) -> tuple[np.ndarray, np.ndarray]:
    """F0 (Hz, NaN when unvoiced) and the CMNDF dip for each row of ``frames`` (length WIN + max lag).

    Difference function via FFT: d(tau) = E(0) + E(tau) - 2 r(tau) over a window of WIN samples.
    """
    max_lag = int(sr / fmin)
    min_lag = max(2, int(sr / fmax))
    x = frames.astype(np.float64) - frames.mean(axis=1, keepdims=True)
    n_fft = 1 << int(math.ceil(math.log2(x.shape[1] + WIN)))
    spec_full = np.fft.rfft(x, n_fft)
    spec_win = np.fft.rfft(x[:, :WIN], n_fft)
    r = np.fft.irfft(spec_full * np.conj(spec_win), n_fft)[:, : max_lag + 1]
    sq = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x * x, axis=1)], axis=1)
    lags = np.arange(max_lag + 1)
    e0 = sq[:, WIN][:, None]
    e_tau = sq[:, lags + WIN] - sq[:, lags]
    d = np.maximum(e0 + e_tau - 2 * r, 0.0)
    d[:, 0] = 0.0
    cum = np.cumsum(d[:, 1:], axis=1)
    cmndf = np.ones_like(d)
    cmndf[:, 1:] = d[:, 1:] * lags[1:] / np.maximum(cum, 1e-12)
    search = cmndf[:, min_lag : max_lag + 1]
    below = search < YIN_THRESHOLD
    first = np.where(below.any(axis=1), below.argmax(axis=1), search.argmin(axis=1))
    # walk to the bottom of the dip that starts at `first`
    idx = first.copy()
    rows = np.arange(search.shape[0])
    for _ in range(search.shape[1]):
        nxt = np.minimum(idx + 1, search.shape[1] - 1)
        step = search[rows, nxt] < search[rows, idx]
        if not step.any():
            break
        idx = np.where(step, nxt, idx)
    dip = search[rows, idx]
    # parabolic interpolation around the dip
    lo, hi = np.maximum(idx - 1, 0), np.minimum(idx + 1, search.shape[1] - 1)
    a, b, c = search[rows, lo], search[rows, idx], search[rows, hi]
    denom = a - 2 * b + c
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    lag = idx + min_lag + np.clip(shift, -1, 1)
    f0 = np.where(dip < VOICED_MAX, sr / lag, np.nan)
    return f0.astype(np.float32), dip.astype(np.float32)


@dataclass
class ProsodyTrack:
    """The 100 Hz feature track of one file's audio: frame times, F0 (NaN unvoiced) and energy (dB)."""

    sr: int = SR
    times: list[np.ndarray] = field(default_factory=list)
    f0: list[np.ndarray] = field(default_factory=list)
    energy: list[np.ndarray] = field(default_factory=list)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def add(self, start: float, audio: np.ndarray) -> None:
        """Analyse one chunk of mono audio starting at ``start`` seconds. Chunks must come in order."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        need = WIN + int(self.sr / FMIN) + 1
        padded = np.concatenate([audio, np.zeros(need, np.float32)])
        n = audio.size // HOP
        if n == 0:
            return
        frames = _frames(padded, need, HOP)[:n]
        f0_parts, e_parts = [], []
        for i in range(0, n, BLOCK):  # bounded working memory per block
            block = frames[i : i + BLOCK]
            rms = np.sqrt(np.mean(block[:, :WIN].astype(np.float64) ** 2, axis=1))
            energy = 20 * np.log10(rms + 1e-10)
            f0, _ = yin_f0(block, self.sr)
            f0[energy < -50] = np.nan
            f0_parts.append(f0)
            e_parts.append(energy.astype(np.float32))
        self.times.append((start + (np.arange(n) * HOP + WIN / 2) / self.sr).astype(np.float64))
        self.f0.append(np.concatenate(f0_parts))
        self.energy.append(np.concatenate(e_parts))
        self._cache.clear()

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if "arrays" not in self._cache:
            cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0)  # noqa: E731
            self._cache["arrays"] = (cat(self.times), cat(self.f0), cat(self.energy))
        return self._cache["arrays"]

    def speaker_level(self) -> dict[str, float | None]:
        """The file-wide reference: median voiced F0, speech energy, and the silence threshold (dB)."""
        if "level" not in self._cache:
            _, f0, energy = self._arrays()
            silence = max(-55.0, float(np.percentile(energy, 95)) - 30.0) if energy.size else -55.0
            voiced = f0[np.isfinite(f0)]
            speech = energy[energy > silence]
            self._cache["level"] = {
                "pitch": float(np.median(voiced)) if voiced.size >= 5 else None,
                "energy": float(np.median(speech)) if speech.size else None,
                "silence": silence,
            }
        return self._cache["level"]

    def cues(self, start: float, end: float, words: list[dict[str, Any]] | None = None, text: str = "") -> ProsodyCues:
        """Prosody over ``[start, end)``: measured values plus their short text, relative to the speaker."""
        times, f0, energy = self._arrays()
        sel = (times >= start) & (times < end)
        seg_f0, seg_e = f0[sel], energy[sel]
        level = self.speaker_level()
        cues = ProsodyCues()
        if seg_e.size == 0:
            return cues
        speech = seg_e > level["silence"]
        voiced = seg_f0[np.isfinite(seg_f0)]
        if voiced.size >= 5:
            cues.pitch_mean_hz = round(float(np.median(voiced)), 1)
            p10, p90 = np.percentile(voiced, [10, 90])
            cues.pitch_range_semitones = round(float(12 * np.log2(p90 / max(p10, 1e-6))), 2)
        if speech.any():
            cues.energy_db = round(_power_db(seg_e[speech]), 1)
            first, last = np.flatnonzero(speech)[[0, -1]]
            active = speech[first : last + 1]
            cues.pause_ratio = round(float(1.0 - active.mean()), 3)
        cues.speaking_rate_wps = _rate(words, text, start, end, speech.any())
        cues.text = describe(cues, level)
        return cues


def _power_db(db: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(10 ** (db.astype(np.float64) / 10)) + 1e-20))


def _rate(words: list[dict[str, Any]] | None, text: str, start: float, end: float, has_speech: bool) -> float | None:
    inside = [w for w in words or [] if w.get("start") is not None and start <= float(w["start"]) < end]
    if len(inside) >= 2:
        span = float(inside[-1].get("end", inside[-1]["start"])) - float(inside[0]["start"])
        if span > 0.2:
            return round(len(inside) / span, 2)
    n_words = len(text.split())
    if n_words and end - start > 0.2 and has_speech:
        return round(n_words / (end - start), 2)
    return None


def describe(cues: ProsodyCues, level: dict[str, float | None] | None = None) -> str:
    """Short prompt text, e.g. ``high, widely varying pitch; loud; fast speech (3.4 words/s); few pauses``."""
    level = level or {}
    parts = []
    if cues.pitch_mean_hz is not None:
        ref = level.get("pitch")
        rel = 12 * math.log2(cues.pitch_mean_hz / ref) if ref else 0.0
        height = "high" if rel > 2 else "low" if rel < -2 else "medium"
        rng = cues.pitch_range_semitones or 0.0
        spread = "widely varying" if rng > 8 else "flat" if rng < 2.5 else "moderately varying"
        parts.append(f"{height}, {spread} pitch ({cues.pitch_mean_hz:.0f} Hz)")
    if cues.energy_db is not None:
        ref_e = level.get("energy")
        rel_e = cues.energy_db - ref_e if ref_e is not None else 0.0
        parts.append("loud" if rel_e > 4 else "quiet" if rel_e < -4 else "normal loudness")
    if cues.speaking_rate_wps is not None:
        rate = cues.speaking_rate_wps
        pace = "fast" if rate > 3.2 else "slow" if rate < 1.8 else "moderate-pace"
        parts.append(f"{pace} speech ({rate:.1f} words/s)")
    if cues.pause_ratio is not None:
        pr = cues.pause_ratio
        parts.append("many pauses" if pr > 0.4 else "few pauses" if pr < 0.15 else "some pauses")
    if not parts:
        return ""
    return "; ".join(parts)


def prosody_track(chunks: Any, sr: int = SR) -> ProsodyTrack:
    """Build a track from ``(start, samples)`` chunks (e.g. ``media.iter_audio``)."""
    track = ProsodyTrack(sr=sr)
    for start, audio in chunks:
        track.add(start, audio)
    return track
