"""Video-level results from segment results: per-track emotion timelines, the dominant emotion, the temporal
caption, and "emotion subtitles" (.srt/.vtt cues).

The temporal caption is plain ordered sentences built for people and for the temporal LCS metric
(``emoreason.eval.temporal``): emotions are named with canonical label words, AUs as ``AU<n>`` with their FACS
names, one change per clause, and an AU that weakens is said to *fall* (an offset word the metric reads as the
AU's offset).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from emoreason import facs
from emoreason.perception.subtitles import Cue
from emoreason.schema import SegmentResult

RISE_MIN = 1.0  # intensity change (0..5) worth a clause


def timeline(segments: list[SegmentResult], track: int | None) -> list[dict[str, Any]]:
    """Consecutive segments of one track with the same label merged: ``[{"start", "end", "label"}]``."""
    out: list[dict[str, Any]] = []
    for seg in sorted((s for s in segments if s.track == track), key=lambda s: s.start):
        label = seg.label or "unknown"
        if out and out[-1]["label"] == label and seg.start - out[-1]["end"] < 1.0:
            out[-1]["end"] = round(max(out[-1]["end"], seg.end), 3)
        else:
            out.append({"start": round(seg.start, 3), "end": round(seg.end, 3), "label": label})
    return out


def dominant(segments: list[SegmentResult], track: int | None) -> str | None:
    """The label that covers the most time for a track (ties: the first to appear)."""
    total: dict[str, float] = defaultdict(float)
    order: dict[str, int] = {}
    for seg in sorted((s for s in segments if s.track == track), key=lambda s: s.start):
        if seg.label:
            total[seg.label] += max(seg.end - seg.start, 1e-3)
            order.setdefault(seg.label, len(order))
    if not total:
        return None
    return max(total, key=lambda lab: (total[lab], -order[lab]))


def _aus_phrase(aus: dict[str, float]) -> str:
    names = [f"{key} {facs.au_name(facs.parse_au_key(key)[0])}" for key, _ in facs.active_aus(aus)[:3]]
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


def _changes(before: dict[str, float], after: dict[str, float]) -> list[str]:
    """Clauses for AUs that rose or fell by at least RISE_MIN, strongest first (sides merged)."""
    a, b = facs.bilateral(before), facs.bilateral(after)
    out = []
    for number in sorted(set(a) | set(b), key=lambda n: -abs(b.get(n, 0.0) - a.get(n, 0.0))):
        x, y = a.get(number, 0.0), b.get(number, 0.0)
        if abs(y - x) >= RISE_MIN:
            verb = "rises" if y > x else "falls"
            out.append(f"{facs.au_key(number)} {facs.au_name(number)} {verb}")
    return out[:3]


def _as_noun(label: str | None) -> str:
    if not label or label == "unknown":
        return "an unclear expression"
    if label == "neutral":
        return "a neutral face"
    return f"a {label} expression" if " " in label else label


def _describe_label(label: str | None) -> str:
    if not label or label == "unknown":
        return "the expression is unclear"
    if label == "neutral":
        return "the face looks neutral"
    return f"the expression shows {label}"


def track_caption(segments: list[SegmentResult], track: int | None, who: str = "The person") -> str:
    """Ordered sentences for one track: where the expression starts, then each change of label."""
    segs = sorted((s for s in segments if s.track == track), key=lambda s: s.start)
    if not segs:
        return ""
    first = segs[0]
    start = f"{who} starts with {_as_noun(first.label)}"
    if first.aus and facs.active_aus(first.aus) and first.label != "neutral":
        start += f", showing {_aus_phrase(first.aus)}"
    sentences = [start + "."]
    prev = first
    for seg in segs[1:]:
        if seg.label == prev.label:
            prev = seg if facs.bilateral(seg.aus) != facs.bilateral(prev.aus) else prev
            continue
        clauses = _changes(prev.aus, seg.aus)
        body = "; ".join(clauses + [_describe_label(seg.label)])
        sentences.append(f"Then {body}.")
        prev = seg
    return " ".join(sentences)


def temporal_caption(segments: list[SegmentResult], tracks: list[int]) -> str:
    """The video's caption: one paragraph per face track (``Person 1: ...``), or one sentence for one face."""
    if not tracks:
        return ""
    if len(tracks) == 1:
        return track_caption(segments, tracks[0])
    return " ".join(f"Person {i}: {track_caption(segments, tr, 'They')}" for i, tr in enumerate(tracks, 1) if segments)


def subtitle_cues(segments: list[SegmentResult], tracks: list[int]) -> list[Cue]:
    """Emotion subtitles: one cue per segment, ``[P1] happiness (AU12, AU6)`` and the spoken words below."""
    names = {tr: f"[P{i}] " for i, tr in enumerate(tracks, 1)} if len(tracks) > 1 else {}
    cues = []
    for seg in sorted(segments, key=lambda s: (s.start, s.track or 0)):
        aus = ", ".join(key for key, _ in facs.active_aus(seg.aus)[:4])
        if seg.track is None:  # speech-only: say so rather than read a missing face as "neutral"
            line = "(no face)" + (f" {seg.label} in the words" if seg.label and seg.label != "neutral" else "")
        else:
            line = f"{names.get(seg.track, '')}{seg.label or 'unknown'}" + (f" ({aus})" if aus else "")
        if seg.transcript:
            line += f"\n{seg.transcript}"
        cues.append(Cue(seg.start, seg.end, line))
    return cues
