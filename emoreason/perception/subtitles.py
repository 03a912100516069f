"""SRT and WebVTT: reading transcripts (sidecar files, ``--transcript``) and writing "emotion subtitles".

Reading is lenient (BOM, CRLF, missing cue numbers, VTT cue settings, NOTE/STYLE blocks, ``<v Speaker>`` and
other inline tags are stripped). Writing is atomic.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from emoreason.errors import EmoreasonError
from emoreason.io import atomic_write_text
from emoreason.schema import Utterance

SUBTITLE_EXTENSIONS = (".srt", ".vtt")
_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{1,3})"
_CUE_TIME = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_TAG = re.compile(r"<[^>]+>|\{\\[^}]*\}")


@dataclass
class Cue:
    """One subtitle cue."""

    start: float
    end: float
    text: str


def _seconds(h: str | None, m: str, s: str, frac: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000


def parse_subtitles(text: str) -> list[Cue]:
    """Parse SRT or VTT text into cues (ordered by start). Lines that are not cues are ignored."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    cues: list[Cue] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln for ln in block.split("\n") if ln.strip()]
        for i, line in enumerate(lines):
            m = _CUE_TIME.match(line)
            if m:
                start, end = _seconds(*m.groups()[:4]), _seconds(*m.groups()[4:])
                body = " ".join(html.unescape(_TAG.sub("", ln)).strip() for ln in lines[i + 1 :])
                body = re.sub(r"\s+", " ", body).strip()
                if body:
                    cues.append(Cue(start, max(end, start), body))
                break
    return sorted(cues, key=lambda c: (c.start, c.end))


def read_subtitles(path: str | Path) -> list[Utterance]:
    """A .srt/.vtt file as utterances. Raises EmoreasonError when the file is missing or has no cues."""
    p = Path(path)
    if not p.is_file():
        raise EmoreasonError(f"{p}: transcript file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        text = p.read_text(encoding="latin-1")
    cues = parse_subtitles(text)
    if not cues:
        raise EmoreasonError(f"{p}: no subtitle cues found; expected SRT or WebVTT ('00:00:01,000 --> 00:00:02,500')")
    return [Utterance(text=c.text, start=c.start, end=c.end) for c in cues]


def find_sidecar(video: str | Path) -> Path | None:
    """``clip.srt`` / ``clip.vtt`` (or ``clip.en.srt`` style) next to ``clip.mp4``, if there is one."""
    v = Path(video)
    for ext in SUBTITLE_EXTENSIONS:
        candidate = v.with_suffix(ext)
        if candidate.is_file():
            return candidate
    for ext in SUBTITLE_EXTENSIONS:
        found = sorted(v.parent.glob(f"{glob_escape(v.stem)}.*{ext}"))
        if found:
            return found[0]
    return None


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def format_time(seconds: float, style: str = "srt") -> str:
    """``01:02:03,456`` (srt) or ``01:02:03.456`` (vtt)."""
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    sep = "," if style == "srt" else "."
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def render_subtitles(cues: Iterable[Cue], style: str = "srt") -> str:
    """SRT or VTT text for cues."""
    if style not in ("srt", "vtt"):
        raise EmoreasonError(f"unknown subtitle format {style!r}; use srt or vtt")
    out = ["WEBVTT", ""] if style == "vtt" else []
    for i, cue in enumerate(sorted(cues, key=lambda c: (c.start, c.end)), 1):
        if style == "srt":
            out.append(str(i))
        out.append(f"{format_time(cue.start, style)} --> {format_time(max(cue.end, cue.start + 0.001), style)}")
        out.append(cue.text.replace("-->", "->").strip() or "...")
        out.append("")
    return "\n".join(out)


def write_subtitles(path: str | Path, cues: Iterable[Cue], style: str | None = None) -> Path:
    """Write cues atomically; the format follows ``style`` or the file extension (.srt / .vtt)."""
    p = Path(path)
    style = style or ("vtt" if p.suffix.lower() == ".vtt" else "srt")
    text = render_subtitles(cues, style)
    p.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(p, text)
