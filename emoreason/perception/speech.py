"""Speech to utterances: sidecar subtitles, a ``--transcript`` file, or openai-whisper with word timestamps.

Whisper is loaded with ``whisper.load_model(name_or_path)``. A model *name* is only used when the user's whisper
cache already holds it (nothing is downloaded here); otherwise the error says how to fetch it or pass a path.
Decoding is bounded (one temperature, no fallback retries, a token cap per window, no conditioning on previous
text), which keeps hallucination loops and randomly initialised test checkpoints fast.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emoreason.errors import EmoreasonError
from emoreason.schema import Utterance

logger = logging.getLogger(__name__)

DEFAULT_WHISPER = "base"


def whisper_cache_dir() -> Path:
    """Where openai-whisper keeps downloaded checkpoints (``$XDG_CACHE_HOME/whisper`` or ``~/.cache/whisper``)."""
    root = os.getenv("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return Path(root) / "whisper"


def resolve_whisper(name_or_path: str) -> str:
    """A checkpoint path, or an official name whose file is already in the whisper cache. Never downloads."""
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return str(p)
    import whisper

    models: dict[str, str] = whisper._MODELS  # name -> url; the file name is the url's basename
    if name_or_path in models:
        cached = whisper_cache_dir() / os.path.basename(models[name_or_path])
        if cached.is_file():
            return name_or_path
        raise EmoreasonError(
            f"whisper model {name_or_path!r} is not in the local cache ({cached}); fetch it once with "
            f"`python -c \"import whisper; whisper.load_model('{name_or_path}')\"` where you are online, "
            "pass a checkpoint file with --whisper PATH, or use --no-speech / --transcript FILE"
        )
    if p.suffix or os.sep in name_or_path:
        raise EmoreasonError(f"whisper checkpoint {p} not found; check the path")
    raise EmoreasonError(
        f"unknown whisper model {name_or_path!r}; use one of {', '.join(models)} or a checkpoint path"
    )


def load_whisper(name_or_path: str, device: str | None = None) -> Any:
    """Load a whisper model through ``whisper.load_model`` (see :func:`resolve_whisper`)."""
    import whisper

    target = resolve_whisper(name_or_path)
    try:
        return whisper.load_model(target, device=device)
    except (OSError, RuntimeError, KeyError, TypeError) as err:
        raise EmoreasonError(f"can't load whisper model {name_or_path!r}: {err}") from err


@dataclass
class Transcriber:
    """A loaded whisper model plus bounded decode options. Call it on 16 kHz mono float32 audio."""

    model: Any
    language: str | None = None
    max_tokens: int = 96  # per 30 s window; ample for real speech (~2.5 words/s), bounds random weights
    beam_size: int | None = None

    @classmethod
    def load(cls, name_or_path: str, language: str | None = None, device: str | None = None) -> Transcriber:
        return cls(load_whisper(name_or_path, device), language=language)

    def __call__(self, audio: np.ndarray, offset: float = 0.0) -> list[Utterance]:
        """Utterances (with word timestamps) for one chunk of audio starting at ``offset`` seconds."""
        import torch
        import whisper

        if audio.size < 1600 or float(np.abs(audio).max(initial=0.0)) < 1e-4:
            return []  # under 0.1 s, or digital silence: nothing to hear
        n_ctx = self.model.dims.n_text_ctx
        options: dict[str, Any] = {
            "temperature": 0.0,
            "compression_ratio_threshold": None,
            "logprob_threshold": None,
            "no_speech_threshold": None,
            "condition_on_previous_text": False,
            "word_timestamps": True,
            "verbose": None,
            "fp16": self.model.device.type == "cuda",
            "sample_len": max(8, min(self.max_tokens, n_ctx // 2 - 8)),
            "language": self.language,
        }
        if self.beam_size:
            options["beam_size"] = self.beam_size
        with torch.inference_mode():
            result = whisper.transcribe(self.model, audio.astype(np.float32), **options)
        language = result.get("language")
        out = []
        for seg in result.get("segments", []):
            text = str(seg.get("text", "")).strip()
            if not text:
                continue
            words = [
                {
                    "word": str(w["word"]).strip(),
                    "start": round(float(w["start"]) + offset, 3),
                    "end": round(float(w["end"]) + offset, 3),
                }
                for w in seg.get("words", []) or []
                if str(w.get("word", "")).strip()
            ]
            start, end = float(seg["start"]) + offset, float(seg["end"]) + offset
            out.append(
                Utterance(
                    text=text, start=round(start, 3), end=round(max(end, start), 3), words=words, language=language
                )
            )
        return out


def transcript_source(
    video: str | Path, transcript: str | Path | None = None, no_speech: bool = False
) -> tuple[str, Path | None]:
    """Which transcript to use: ("file", path) for --transcript or a sidecar .srt/.vtt, else ("whisper", None), or
    ("none", None) with ``no_speech`` (which skips audio analysis; a transcript file is still read)."""
    from emoreason.perception.subtitles import find_sidecar

    if transcript:
        return "file", Path(transcript)
    sidecar = find_sidecar(video)
    if sidecar is not None:
        return "file", sidecar
    return ("none", None) if no_speech else ("whisper", None)


def utterances_text(utterances: list[Utterance], start: float, end: float) -> str:
    """The words spoken in ``[start, end)``: whole utterances that overlap, or just the words inside when the
    utterance has word timestamps and only partly overlaps."""
    parts = []
    for u in utterances:
        if u.end <= start or u.start >= end:
            continue
        if u.words and (u.start < start - 0.25 or u.end > end + 0.25):
            words = [w["word"] for w in u.words if start <= 0.5 * (w["start"] + w["end"]) < end]
            if words:
                parts.append(" ".join(words))
        else:
            parts.append(u.text)
    return " ".join(parts).strip()


def words_in(utterances: list[Utterance], start: float, end: float) -> list[dict[str, Any]]:
    return [w for u in utterances for w in u.words if start <= w["start"] < end]
