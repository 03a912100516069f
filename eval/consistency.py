"""Reasoning-consistency evaluators: does the CoT agree with its own answer, its own evidence, and its input?

- :func:`reasoning_label_consistency`: the label the Conclusion section names equals ``<answer>``.
- :func:`evidence_support` / :func:`evidence_consistency` / :func:`evidence_contradiction`: the AUs cited in
  ``<think>`` support the answer under the FACS prototypes, scored by the rule engine's
  ``rules.score_emotions`` (so the rule engine and the evaluator agree on what a set of AUs implies).
- :func:`transcript_grounding`: quoted speech in ``<think>`` occurs in the input transcript; the rest is
  hallucinated.

All take a :class:`~emoreason.reasoning.parser.ParsedOutput` (or raw text, parsed with the one parser).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from emoreason.facs import AU_TABLE, au_key, parse_au_key, prototype_aus
from emoreason.labels import CANONICAL_LABELS, normalize_label, valence
from emoreason.reasoning.parser import ParsedOutput, cited_aus, parse_output

CITED_INTENSITY = 3.0  # each cited AU is read at FACS level C ("marked"): the rule engine's full activation


def _parsed(parsed_or_text: ParsedOutput | str | None) -> ParsedOutput:
    return parsed_or_text if isinstance(parsed_or_text, ParsedOutput) else parse_output(parsed_or_text)


def _answer_labels(parsed: ParsedOutput) -> list[str]:
    """The canonical labels the answer gives: its label, else the canonical items of an open-vocabulary list."""
    if parsed.label is not None:
        return [parsed.label]
    return [x for x in parsed.labels if x in CANONICAL_LABELS]


def reasoning_label_consistency(parsed_or_text: ParsedOutput | str | None) -> bool | None:
    """Does the Conclusion name the same label as ``<answer>``?

    None when the answer has no readable label (nothing to be consistent with). False when the answer has one but
    the Conclusion section is missing, names no label, or names a different one; True when it names the answer's
    label (for an open-vocabulary list, any of its labels).

    >>> reasoning_label_consistency("<think>Conclusion: she is happy.</think><answer>happiness</answer>")
    True
    >>> reasoning_label_consistency("<think>Conclusion: she is sad.</think><answer>happiness</answer>")
    False
    """
    parsed = _parsed(parsed_or_text)
    answer = [parsed.label] if parsed.label is not None else list(parsed.labels)
    if not answer:
        return None
    return parsed.conclusion_label is not None and parsed.conclusion_label in answer


def implied_scores(aus_cited: Iterable[str | int], label_set: str = "compound") -> dict[str, float]:
    """``rules.score_emotions`` of the cited AUs, each read at :data:`CITED_INTENSITY` (sides kept: AU14L)."""
    from emoreason.reasoning.rules import score_emotions

    aus: dict[str, float] = {}
    for a in aus_cited:
        number, side = parse_au_key(a)
        aus[au_key(number, side)] = CITED_INTENSITY
    return score_emotions(aus, label_set)  # type: ignore[arg-type]


def implied_label(aus_cited: Iterable[str | int], label_set: str = "compound") -> str:
    """The label the cited AUs imply: the arg-max of :func:`implied_scores` (ties: canonical label order).

    >>> implied_label(["AU6", "AU12"]), implied_label([])
    ('happiness', 'neutral')
    """
    scores = implied_scores(aus_cited, label_set)
    order = {label: i for i, label in enumerate(CANONICAL_LABELS)}
    return max(scores, key=lambda k: (scores[k], -order.get(k, len(order))))


def evidence_support(aus_cited: Iterable[str | int], label: str) -> float | None:
    """How well the cited AUs support ``label``: ``score(label) / max_l score(l)`` under :func:`implied_scores`,
    times the share of the cited AUs that ``label``'s prototype explains (``|cited & proto| / |cited|``).

    1.0 when ``label`` is what the cited AUs imply best and its prototype explains all of them, 0.0 when they give it
    no support. The explained share keeps AU spam from looking like support: citing every AU makes every label's
    relative score high, but any one prototype explains only a few of them. With no AUs cited only "neutral" is
    supported. None for a label outside the canonical set (no prototype to check).

    >>> evidence_support(["AU6", "AU12"], "happiness"), evidence_support(["AU6", "AU12"], "sadness")
    (1.0, 0.0)
    >>> round(evidence_support(["AU6", "AU12", "AU43"], "happiness"), 4)  # AU43 (eyes closed) is not in a smile
    0.6667
    """
    if label not in CANONICAL_LABELS:
        return None
    scores = implied_scores(aus_cited)
    best = max(scores.values())
    if best <= 0:
        return 0.0
    numbers = {parse_au_key(a)[0] for a in aus_cited}
    if not numbers:
        return scores.get(label, 0.0) / best
    explained = len(numbers & prototype_aus(label)) / len(numbers)
    return scores.get(label, 0.0) / best * explained


def evidence_consistency(parsed_or_text: ParsedOutput | str | None) -> float | None:
    """Support of the cited AUs for the answer: :func:`evidence_support` of ``parsed.aus`` for the answer's label
    (the best of its labels for an open-vocabulary list); None when the answer has no canonical label.

    >>> evidence_consistency("<think>AU6 and AU12 are strong.</think><answer>happiness</answer>")
    1.0
    """
    parsed = _parsed(parsed_or_text)
    supports = [s for s in (evidence_support(parsed.aus, x) for x in _answer_labels(parsed)) if s is not None]
    return max(supports) if supports else None


def evidence_contradiction(parsed_or_text: ParsedOutput | str | None) -> bool | None:
    """True when the cited AUs imply a label of the opposite valence to the answer (``valence(a) * valence(b) < 0``,
    e.g. a cited Duchenne smile with the answer "sadness"). None when the answer has no canonical label.

    >>> evidence_contradiction("<think>AU6 and AU12 are strong.</think><answer>sad</answer>")
    True
    """
    parsed = _parsed(parsed_or_text)
    answers = _answer_labels(parsed)
    if not answers:
        return None
    implied = valence(implied_label(parsed.aus))
    return all(valence(a) * implied < 0 for a in answers)


def consistency_score(parsed_or_text: ParsedOutput | str | None) -> float:
    """Per-sample consistency, the value the GRPO ``consistency`` reward gives:
    ``(rlc + ec) / 2`` with ``rlc`` = :func:`reasoning_label_consistency` and ``ec`` = :func:`evidence_consistency`,
    None read as 0 (an output with no readable answer is not consistent).

    >>> consistency_score("<think>AU6, AU12.\\nConclusion: happiness.</think><answer>happiness</answer>")
    1.0
    """
    parsed = _parsed(parsed_or_text)
    parts = [reasoning_label_consistency(parsed), evidence_consistency(parsed)]
    return sum(float(p or 0.0) for p in parts) / len(parts)


# ---------------------------------------------------------------------------------------------- transcript
_QUOTE = re.compile(r"\"([^\"\n]{2,}?)\"|\u201c([^\u201d\n]{2,}?)\u201d")
_ELLIPSIS = re.compile(r"\.\.\.|\u2026")
_AU_NAMES = {au.name for au in AU_TABLE.values()}


@dataclass
class Grounding:
    """Quoted spans in ``<think>`` checked against the transcript. ``rate``: grounded share (None: no quotes)."""

    quotes: list[str] = field(default_factory=list)
    grounded: list[str] = field(default_factory=list)
    hallucinated: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        return len(self.grounded) / len(self.quotes) if self.quotes else None

    @property
    def hallucination_rate(self) -> float | None:
        return len(self.hallucinated) / len(self.quotes) if self.quotes else None


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)?", text.lower().replace("\u2019", "'")))


def _is_speech(quote: str) -> bool:
    """A quoted span counts as speech unless it is just a label ("happiness", "happily surprised"), an AU
    ("AU12", "AU12 lip corner puller") or an AU name: at most two words naming a label, or an AU citation or name
    plus at most its name's words."""
    words = _norm(quote).split()
    if not words:
        return False
    if len(words) <= 2 and normalize_label(quote, "open") is not None:
        return False
    if " ".join(words) in _AU_NAMES:
        return False
    return not (cited_aus(quote) and len(words) <= 5)


def transcript_grounding(parsed_or_text: ParsedOutput | str | None, transcript: str) -> Grounding:
    """Check every quoted span in ``<think>`` ("..." or curly quotes) against the transcript.

    A quote is grounded when its normalised words (lower-case, punctuation dropped) are a contiguous run of the
    normalised transcript; a quote with an ellipsis is grounded when every piece is. Quoted emotion labels and
    AU names ("happiness", "lip corner puller") are not speech and are ignored.
    ``rate = grounded / quotes``, ``hallucination_rate = 1 - rate``; both None when nothing is quoted.

    >>> g = transcript_grounding('<think>Speech: "I am fine." Later: "I hate this"</think>', "Well, I am FINE!")
    >>> g.rate, g.hallucinated
    (0.5, ['I hate this'])
    """
    parsed = _parsed(parsed_or_text)
    text = parsed.think if parsed.think is not None else (parsed_or_text if isinstance(parsed_or_text, str) else "")
    said = f" {_norm(transcript or '')} "
    result = Grounding()
    for match in _QUOTE.finditer(text or ""):
        quote = (match.group(1) or match.group(2)).strip()
        if not _is_speech(quote):
            continue
        result.quotes.append(quote)
        pieces = [_norm(p) for p in _ELLIPSIS.split(quote) if _norm(p)]
        if pieces and all(f" {p} " in said for p in pieces):
            result.grounded.append(quote)
        else:
            result.hallucinated.append(quote)
    return result
