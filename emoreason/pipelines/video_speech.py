"""A video's speech: its transcript (a ``--transcript`` file, a sidecar subtitle file or whisper, cached per process)
and its prosody track, both read from audio decoded in chunks. :func:`emoreason.pipelines.video.perceive_video`
calls :func:`speech_source`, then :func:`read_audio`: before the faces pass when whisper must transcribe (the windows
follow the words), else beside it, in a thread. Where a transcript comes from: :mod:`emoreason.perception.speech`.
"""

from __future__ import annotations

from pathlib import Path

from emoreason.errors import EmoreasonError
from emoreason.perception import media
from emoreason.perception.prosody import ProsodyTrack
from emoreason.perception.speech import DEFAULT_WHISPER, Transcriber, transcript_source, whisper_cache_dir
from emoreason.perception.subtitles import read_subtitles
from emoreason.pipelines.video_options import VideoOptions
from emoreason.schema import Utterance

_TRANSCRIBERS: dict[tuple[str, str | None], Transcriber] = {}
# Seconds of audio decoded at a time when only the prosody track reads it (no whisper; whisper gets
# VideoOptions.audio_chunk, long enough not to cut many words). The chunk and its copies are the audio path's
# working memory, and they overlap the faces pass's: with 120 s chunks a generated 600 s clip peaked 64 MB (7 %)
# above a 60 s one, with 20 s chunks 37 MB (4 %; 11 MB of it the faces pass's own records, with --no-speech).
# Each chunk's last ~40 ms of prosody frames see zero padding instead of the next chunk (0.2 % of the frames).
PROSODY_CHUNK = 20.0


SIDECAR_HINT = "; a .srt/.vtt next to a video is used instead"


def missing_whisper(options: VideoOptions, hint: str = SIDECAR_HINT) -> str | None:
    """Why whisper will not run for a video without a transcript file, with the fix, or None when it will (or
    speech is off). No ``--whisper`` given and the default model not in the cache: speech is skipped, not an error.
    Checked without importing whisper (and torch): seconds saved on every video of a batch. ``hint``: the other
    way to give words, where there is one (the server's uploads have no sidecar file)."""
    if options.whisper or options.no_speech or (whisper_cache_dir() / f"{DEFAULT_WHISPER}.pt").is_file():
        return None
    return (
        f"no --whisper given and whisper model {DEFAULT_WHISPER!r} is not in {whisper_cache_dir()}; "
        f"fetch it once where you are online (python -c \"import whisper; whisper.load_model('{DEFAULT_WHISPER}')\") "
        "or pass --whisper NAME|PATH (a checkpoint file)" + hint
    )


def get_transcriber(options: VideoOptions, notes: list[str]) -> Transcriber | None:
    """The whisper transcriber for these options (cached per process). With no ``--whisper`` given, a missing
    default model is a note (:func:`missing_whisper`), not an error; an explicit ``--whisper`` that can't load
    raises EmoreasonError."""
    name = options.whisper or DEFAULT_WHISPER
    key = (name, options.language)
    missing = missing_whisper(options)
    if missing:
        notes.append(f"speech skipped: {missing}")
        return None
    if key not in _TRANSCRIBERS:
        try:
            _TRANSCRIBERS[key] = Transcriber.load(name, language=options.language)
        except EmoreasonError as err:
            if options.whisper:
                raise
            notes.append(f"speech skipped: {err}")
            return None
    return _TRANSCRIBERS[key]


def speech_source(
    path: Path, info: media.MediaInfo, options: VideoOptions, notes: list[str]
) -> tuple[list[Utterance], Transcriber | None, bool]:
    """What a video's speech comes from: the utterances of a transcript file (``[]`` without one), the whisper
    transcriber to run over the audio (None: none), and whether the audio is to be read at all (prosody)."""
    kind, source = transcript_source(path, options.transcript, options.no_speech)
    utterances: list[Utterance] = read_subtitles(source) if kind == "file" and source else []
    if kind == "file":
        notes.append(f"transcript from {source}")
    if options.no_speech:
        notes.append("speech skipped (--no-speech)")
        return utterances, None, False
    if not info.has_audio:
        notes.append("no audio track: speech and prosody skipped")
        return utterances, None, False
    return utterances, get_transcriber(options, notes) if kind == "whisper" else None, True


def no_words_reason(path: Path, info: media.MediaInfo, options: VideoOptions) -> str:
    """Why a video came out with no words, with the fix where there is one (the same order as
    :func:`speech_source`): said by the chat's "what did she say?" instead of a list of possible causes."""
    kind, source = transcript_source(path, options.transcript, options.no_speech)
    if kind == "file":
        return f"the transcript {source} has no lines inside the video"
    if options.no_speech:
        return "speech skipped (--no-speech)"
    if not info.has_audio:
        return "the video has no audio track"
    missing = missing_whisper(options)
    if missing:
        return f"speech skipped: {missing}"
    return f"whisper ({options.whisper or DEFAULT_WHISPER}) heard no words"


def read_audio(
    path: Path, options: VideoOptions, transcriber: Transcriber | None, notes: list[str]
) -> tuple[list[Utterance], ProsodyTrack | None]:
    """One pass over the audio in chunks: the prosody track, and the transcriber's utterances when one is given."""
    utterances: list[Utterance] = []
    track = ProsodyTrack()
    report = media.DecodeReport()
    seconds = options.audio_chunk if transcriber is not None else min(options.audio_chunk, PROSODY_CHUNK)
    try:
        for start, chunk in media.iter_audio(path, seconds, report=report):
            track.add(start, chunk)
            if transcriber is not None:
                utterances += transcriber(chunk, offset=start)
    except media.DecodeLimitError:
        raise  # over a cap of the caller's (serve's duration cap): the job stops, it does not go on without audio
    except EmoreasonError as err:
        notes.append(f"audio skipped: {err}")
        return utterances, None
    notes += report.notes
    return utterances, track
