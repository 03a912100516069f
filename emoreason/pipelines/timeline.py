"""Video-level results from segment results: per-track emotion timelines, the dominant emotion, the temporal
caption, and "emotion subtitles" (.srt/.vtt cues).

The temporal caption reads as plain language first, for people, and stays scorable by the temporal LCS metric
(``emoreason.eval.temporal``): one sentence per run of the same label, in order, saying what the face does in lay
words ("cries", "smiles broadly"), for how long and from when, then the canonical label word in brackets, the
visible movements in lay words, and the AU codes after them; an AU that weakens at a change is said to *fall* (an
offset word the metric reads as the AU's offset). A gap of a second or more with no face is said as such.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from emoreason import facs
from emoreason.perception.subtitles import Cue
from emoreason.perception.tracks import expressiveness
from emoreason.schema import SegmentResult
from emoreason.text import join

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


def _verb(label: str | None, aus: dict[str, float], plural: bool = False) -> str:
    """What the person does, in plain words: "smiles broadly", "cries", "looks angry"."""
    b = facs.bilateral(aus)
    s = "" if plural else "s"
    if not label or label == "unknown":
        return f"show{s} an unclear expression"
    if label == "neutral":
        return f"look{s} neutral"
    if label == "happiness":
        broad = b.get(12, 0.0) >= 4.0 or b.get(25, 0.0) >= 3.0
        return f"smile{s}{' broadly' if broad else ''}"
    if label == "sadness":
        crying = b.get(43, 0.0) >= 3.0 or (b.get(17, 0.0) >= 1.0 and b.get(1, 0.0) >= 1.0)
        return ("cry" if plural else "cries") if crying else f"look{s} downcast"
    if label == "contempt":
        return f"smirk{s}"
    return f"look{s} {label_adjective(label)}"


_ADJECTIVES = {"surprise": "surprised", "fear": "afraid", "disgust": "disgusted", "anger": "angry"}


def label_adjective(label: str) -> str:
    """ "anger" -> "angry"; compound labels ("happily surprised") are adjectives already."""
    return _ADJECTIVES.get(label, label)


def _duration(start: float, end: float) -> str:
    length = end - start
    if length < 1.0:
        return "briefly"
    return f"for about {length:.0f} s"


def segment_runs(segments: list[SegmentResult], track: int | None) -> list[dict[str, Any]]:
    """The track's consecutive same-label segments merged (as :func:`timeline`), each with its strongest AUs and
    the AUs of the segment where it starts."""
    runs: list[dict[str, Any]] = []
    for seg in sorted((s for s in segments if s.track == track), key=lambda s: s.start):
        label = seg.label or "unknown"
        if runs and runs[-1]["label"] == label and seg.start - runs[-1]["end"] < 1.0:
            run = runs[-1]
            run["end"] = max(run["end"], seg.end)
            run["moves"].append((seg.start, _changes(run["last"], seg.aus)))
            run["last"] = seg.aus
            if expressiveness(seg.aus) > expressiveness(run["aus"]):
                run["aus"], run["uncertain"] = seg.aus, seg.uncertain_aus
        else:
            runs.append(
                {"start": seg.start, "end": seg.end, "label": label, "aus": seg.aus, "uncertain": seg.uncertain_aus,
                 "first": seg.aus, "last": seg.aus, "moves": []}
            )
    return runs


def _moves(run: dict[str, Any], limit: int = 3) -> str:
    """Within one run: "; at 1.0 s AU5 rises and AU26 rises; at 3.0 s AU26 falls" (AUs changing by RISE_MIN)."""
    parts = []
    for t, changes in run["moves"]:
        rose = [c.split()[0] for c in changes if c.endswith("rises")]
        fell = [c.split()[0] for c in changes if c.endswith("falls")]
        # each AU with its own verb: the temporal metric reads polarity per clause
        said = [f"{au} rises" for au in rose] + [f"{au} falls" for au in fell]
        if said:
            parts.append(f"at {t:.1f} s {join(said)}")
    return "".join(f"; {p}" for p in parts[:limit])


def _details(aus: dict[str, float], label: str, changes: list[str], uncertain: list[str] | None = None) -> str:
    """": brows raised, eyes closed (AU1, AU43; AU12 lip corner puller falls)" - plain words, then the AU codes; an
    uncertain AU is said as such, as the segment's CoT does (the one per-AU decision, ``facs.au_states``)."""
    if label == "neutral":
        return f" ({'; '.join(changes)})" if changes else ""
    words = facs.plain_movements(aus, uncertain=uncertain or ())
    codes = [key for key, _ in facs.active_aus(aus)[:4]]
    inner = ", ".join(codes) + ("; " if codes and changes else "") + "; ".join(changes)
    text = f": {', '.join(words)}" if words else ""
    return text + (f" ({inner})" if inner else "")


def track_caption(segments: list[SegmentResult], track: int | None, who: str = "The person") -> str:
    """Plain sentences for one track, in order: what the face does and for how long, then each change of label
    with the time it happens; the AU codes (and the AUs that rose or fell) follow the plain words in brackets.

    "The person cries for about 6 s (sadness): eyes closed, brows raised and drawn together (AU43, AU1, AU4).
    Then, at 5.8 s, they smile broadly for about 14 s (happiness): lip corners up, lips apart (AU12, AU25; AU43
    falls; AU4 falls)."
    """
    runs = segment_runs(segments, track)
    if not runs:
        return ""
    sentences = []
    plural = who.lower() == "they"
    for k, run in enumerate(runs):
        label = run["label"]
        # offsets only (what rose is in the codes already), from the previous run's *last* reading: a fall that
        # happened within the previous run was said there. An AU this run shows at its peak is not said to fall.
        fell = _changes(runs[k - 1]["last"], run["first"]) if k else []
        shown = {facs.parse_au_key(key)[0] for key, _ in facs.active_aus(run["aus"])[:4]}
        changes = [c.split()[0] + " falls" for c in fell
                   if c.endswith("falls") and facs.parse_au_key(c.split()[0])[0] not in shown]  # fmt: skip
        verb = _verb(label, run["aus"], plural=plural or k > 0)
        head = who if k == 0 else f"Then, at {run['start']:.1f} s, they"
        tag = f" ({label})" if label not in ("neutral", "unknown") else ""
        body = f"{head} {verb} {_duration(run['start'], run['end'])}{tag}"
        sentences.append(body + _details(run["aus"], label, changes, run["uncertain"]) + _moves(run) + ".")
        if k + 1 < len(runs) and runs[k + 1]["start"] - run["end"] >= 1.0:
            sentences.append(f"The face is not visible from {run['end']:.1f} to {runs[k + 1]['start']:.1f} s.")
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
