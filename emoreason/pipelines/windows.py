"""A video's windows and their Evidence: where windows fall, how a window splits where the expression changes, and
the Evidence of one face track over one (part of a) window.

:func:`plan_segments` lays windows over the video (fixed, or speech-aligned utterances with silent gaps filled);
:func:`frame_label` is the rule engine's label per sampled frame and :func:`label_runs` smooths a track's frame labels
into runs, so a window is split where a run changes; :func:`_segment_evidence` builds one Evidence (AUs at the peak
frame, their change over the part, speech and prosody). ``pipelines.video.perceive_video`` drives them.
"""

from __future__ import annotations

from typing import Any

from emoreason import facs
from emoreason.perception.tracks import AUSeries, expressiveness
from emoreason.pipelines.video_options import VideoOptions
from emoreason.schema import Evidence, Utterance

DEFAULT_WINDOW = 4.0
GAP_FILL = 1.5  # silent stretches at least this long between utterances get fixed windows


def plan_segments(duration: float, utterances: list[Utterance], window: float | None) -> list[tuple[float, float]]:
    """Fixed windows, or utterance spans with silent gaps (>= GAP_FILL s) covered by DEFAULT_WINDOW windows and
    shorter ones joined to the span before them, so the spans cover the whole video, before the first words too."""

    def windows(a: float, b: float, size: float) -> list[tuple[float, float]]:
        out, t = [], a
        while t < b - 1e-6:
            end = min(b, t + size)
            if out and end - t < size / 3:  # fold a short tail into the previous window
                out[-1] = (out[-1][0], end)
            else:
                out.append((t, end))
            t = end
        return out

    duration = max(duration, 1e-3)
    if window or not utterances:
        return windows(0.0, duration, window or DEFAULT_WINDOW)
    spans: list[tuple[float, float]] = []
    cursor = 0.0
    for u in sorted(utterances, key=lambda u: u.start):
        start, end = max(0.0, u.start), min(duration, max(u.end, u.start + 0.2))
        if start >= duration:
            break
        if start - cursor >= GAP_FILL:
            spans += windows(cursor, start, DEFAULT_WINDOW)
        elif start > cursor:  # a short silence joins the span before it (before the first words: the first span)
            if spans:
                _extend_last(spans, start)
            else:
                start = 0.0
        spans.append((start, end))
        cursor = max(cursor, end)
    if duration - cursor >= GAP_FILL:
        spans += windows(cursor, duration, DEFAULT_WINDOW)
    elif spans and duration > cursor:
        _extend_last(spans, duration)
    return sorted(spans)


def _extend_last(spans: list[tuple[float, float]], until: float) -> None:
    """Stretch the span that ends last (with overlapping cues, not always the last one added) to ``until``."""
    i = max(range(len(spans)), key=lambda k: spans[k][1])
    spans[i] = (spans[i][0], max(spans[i][1], until))


def frame_label(
    aus: dict[str, float], label_set: str, uncertain: tuple[str, ...] = (),
    expression: dict[str, float] | None = None, fusion_card: dict | None = None,
) -> str:
    """One frame's label, what splits a window where the expression changes: the rule engine's label for its AUs,
    fused with the face model's probabilities when it ran (``reasoning.fusion``)."""
    return frame_scores(aus, label_set, uncertain, expression, fusion_card)[0]


def frame_scores(
    aus: dict[str, float], label_set: str, uncertain: tuple[str, ...] = (),
    expression: dict[str, float] | None = None, fusion_card: dict | None = None,
) -> tuple[str, dict[str, float]]:
    """One frame's label (:func:`frame_label`) and its probabilities: fused with the face model's where it ran,
    the rules' own otherwise (a live reading shows them)."""
    from emoreason.reasoning.fusion import fuse
    from emoreason.reasoning.rules import best_label, score_emotions

    scores = score_emotions(aus, label_set, uncertain=uncertain)  # type: ignore[arg-type]
    rules = best_label(scores, aus)[0]
    fused = fuse(scores, rules, expression or None, fusion_card)
    return (fused.label if expression else rules), fused.probabilities


MIN_RUN_FRAMES = 3  # a change of frame label must hold this many sampled frames (0.75 s at 4 fps) to split
BRIDGE_FRAMES = 4  # a run this short or shorter between two runs of one label is folded into them


def label_runs(
    labels: list[str], min_run: int = MIN_RUN_FRAMES, bridge: int = BRIDGE_FRAMES
) -> list[tuple[str, int, int]]:
    """Runs ``(label, first, last)`` (positions in ``labels``) of one track's frame labels: runs shorter than
    ``min_run`` are folded into the run before them (or after, for the first), a run of at most ``bridge`` frames
    between two runs of the same label is folded into them (a blink of another reading inside one expression),
    and equal neighbours are merged.

    >>> label_runs(["neutral", "neutral", "neutral", "happiness", "happiness", "happiness"])
    [('neutral', 0, 2), ('happiness', 3, 5)]
    >>> label_runs(["happiness", "happiness", "happiness", "anger", "happiness", "happiness"])
    [('happiness', 0, 5)]
    >>> label_runs(["sadness"] * 4 + ["neutral"] * 3 + ["sadness"] * 4)
    [('sadness', 0, 10)]
    """
    runs: list[list[Any]] = []
    for i, lab in enumerate(labels):
        if runs and runs[-1][0] == lab:
            runs[-1][2] = i
        else:
            runs.append([lab, i, i])
    changed = True
    while changed and len(runs) > 1:
        changed = False
        for k, run in enumerate(runs):
            if run[2] - run[1] + 1 < min_run:
                other = runs[k - 1] if k > 0 else runs[k + 1]
                other[1], other[2] = min(other[1], run[1]), max(other[2], run[2])
                runs.pop(k)
                changed = True
                break
        merged: list[list[Any]] = []
        for run in runs:
            if merged and merged[-1][0] == run[0]:
                merged[-1][2] = run[2]
            else:
                merged.append(run)
        runs = merged
        for k in range(1, len(runs) - 1):
            if runs[k - 1][0] == runs[k + 1][0] and runs[k][2] - runs[k][1] + 1 <= bridge:
                runs[k - 1][2] = runs[k + 1][2]
                del runs[k : k + 2]
                changed = True
                break
    return [(lab, a, b) for lab, a, b in runs]


def _change_text(s: AUSeries, idx: list[int], peak: int, baseline: dict[str, float]) -> str:
    first, last = s.relative(idx[0], baseline), s.relative(idx[-1], baseline)
    peak_aus = s.relative(peak, baseline)
    parts = [p for p in (facs.au_change_text(first, peak_aus), facs.au_change_text(peak_aus, last)) if p]
    return "; then ".join(parts)


def _expression_labels() -> tuple[str, ...]:
    from emoreason.perception.expression import EXPRESSION_LABELS

    return EXPRESSION_LABELS


def _fusion_card(options: VideoOptions) -> dict:
    from emoreason.perception.expression import fusion_card, model_for

    return fusion_card(model_for(options.expression_model))


def _segment_evidence(
    s: AUSeries,
    idx: list[int],
    baseline: dict[str, float],
    ev_id: str,
    span: tuple[float, float],
    crop: tuple[float, float, bytes] | None,
    options: VideoOptions,
    speech_for: Any,
) -> Evidence:
    """The Evidence of one track over one (part of a) window: AUs at the peak frame, their change, speech."""
    start, end = span
    peak_time = crop[1] if crop is not None and s.times[idx[0]] <= crop[1] <= s.times[idx[-1]] else None
    if peak_time is None:
        peak = max(idx, key=lambda i: expressiveness(s.relative(i, baseline)))
    else:
        peak = min(idx, key=lambda i: abs(s.times[i] - peak_time))
    aus = s.relative(peak, baseline)
    change = _change_text(s, idx, peak, baseline)
    flags, hedge, uncertain = s.quality[peak] if peak < len(s.quality) else ((), "", ())
    au_text = facs.au_text(aus, uncertain=uncertain)
    if change:
        au_text = f"{au_text.rstrip('.')}. Over {start:.1f}-{end:.1f} s: {change}."
    transcript, prosody_text = speech_for(start, end)
    return Evidence(
        id=ev_id,
        aus=aus,
        au_text=au_text,
        au_changes=change,
        transcript=transcript,
        prosody=prosody_text,
        quality=list(flags),
        quality_text=hedge,
        uncertain_aus=list(uncertain),
        expression=s.mean_expression(idx, _expression_labels()),
        fusion=_fusion_card(options),
        track=s.track,
        start=round(start, 3),
        end=round(end, 3),
        label_set=options.label_set,
        meta={"peak_time": round(s.times[peak], 3), "frames": len(idx)},
    )
