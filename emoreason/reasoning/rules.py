"""The FACS rule engine: the embedded default reasoner and the Exp-CoT engine that writes training CoTs.

Scoring (deterministic; all numbers are in this module):

1. Each AU's bilateral intensity ``I`` (the stronger side) becomes an activation ``a = min(I, 3) / 3`` when
   ``I >= threshold`` (a "marked" C-level AU saturates), else 0.
2. For every emotion ``e`` with prototype weights ``w`` (``facs.PROTOTYPES``; core AUs 1.0, supporting 0.5/0.25):
   ``coverage_e = sum(w_n * a_n) / sum(w_n)`` - how much of the prototype the face shows.
3. Evidence the prototype does not explain lowers the score:
   ``unexplained_e = sum(a_n, n not in e) / sum(a_n)`` and ``score_e = coverage_e * (1 - 0.5 * unexplained_e)``.
4. Contempt is one-sided: its AU14 (and AU12) activation is the left/right *difference* when sides are known,
   and half the bilateral activation when they are not, so a symmetric smile never reads as contempt.
5. Compound labels (RAF-DB) score ``0.9 * score`` so a basic label wins unless the compound fits clearly better;
   with ``label_set="basic"`` they are not considered. A compound is a blend of two emotions (Du et al. 2014),
   so it is only scored when *each* component shows one of its own signs (a prototype AU of weight >= 0.5; the
   unspecific 0.25 ones such as AU25 do not count), two different AUs, at least one of which the other component
   does not share; otherwise it scores 0. So AU4+AU7 (signs of both fear and anger) is anger, not "fearfully
   angry", while AU4+AU20 (Du et al.'s fearfully angry) still is. Without this gate a smile with parted lips
   (AU12+AU25) read "happily disgusted": the unspecific AU25 covers a third of that compound's prototype.
6. ``neutral = max(0, 1 - sum(a_n))``: with no AU at or above the threshold the face is neutral (score 1).
7. Speech adds a small, bounded nudge: an emotion word said in the transcript ("I'm so happy") adds 0.1 to
   that label's score (negated words - "not happy" - add nothing; see ``labels.normalize_label``).

The label is the arg-max score. ``explain`` writes the ``<think>`` (Key observations, Overall interpretation,
Conclusion) and ``<answer>``, either for the arg-max label or for a given gold label (Exp-CoT data synthesis).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from emoreason import facs
from emoreason.labels import COMPOUND_LABELS, LabelSet, components, normalize_label
from emoreason.reasoning.base import to_reasoning
from emoreason.schema import Evidence, Reasoning

COMPOUND_DISCOUNT = 0.9
SPEECH_BONUS = 0.1
_NEGATORS = {"not", "no", "never", "isn't", "don't", "didn't", "wasn't", "aren't", "hardly"}
# Plain-words prototype notes. They name no AU numbers: only AUs actually observed are cited as AU<n>,
# so the AUs a CoT cites are exactly the AUs the face shows (what AU-F1 and evidence consistency measure).
_PROTOTYPE_NOTES = {
    "happiness": "a cheek raiser with a lip corner puller is the Duchenne smile, the EMFACS prototype of happiness",
    "sadness": "raised inner brows with lowered lip corners form the EMFACS prototype of sadness",
    "surprise": "raised brows, widened eyes and a dropped jaw form the prototype of surprise",
    "fear": "raised and drawn-together brows, wide eyes and stretched lips signal fear",
    "disgust": "a wrinkled nose or raised upper lip is the prototype of disgust",
    "anger": "lowered brows, glaring eyes and tightened lips form the prototype of anger",
    "contempt": "a one-sided dimpler (a smirk) is the prototype of contempt",
}


@dataclass
class RuleExplanation:
    """What the rule engine wrote: the full text, the label it concluded, per-label scores, AUs it cited."""

    text: str
    label: str
    scores: dict[str, float]
    cited: list[str] = field(default_factory=list)


def _activations(aus: dict[str, float], threshold: float) -> dict[int, float]:
    return {n: min(v, 3.0) / 3.0 for n, v in facs.bilateral(aus).items() if v >= threshold}


def _contempt_activation(aus: dict[str, float], number: int, act: dict[int, float]) -> float:
    sides = facs.au_key(number, "L") in aus and facs.au_key(number, "R") in aus
    if sides:
        return min(facs.asymmetry(aus, number), 3.0) / 3.0
    return 0.5 * act.get(number, 0.0)


def _signs(label: str) -> set[int]:
    """A basic emotion's specific AUs: its prototype AUs of weight >= 0.5."""
    return {n for n, w in facs.PROTOTYPES.get(label, {}).items() if w >= 0.5}


def components_shown(label: str, active: set[int]) -> bool:
    """Whether each component of a compound shows its own sign: two different AUs, not both shared by the two.

    >>> components_shown("happily disgusted", {12, 25}), components_shown("happily disgusted", {10, 12, 25})
    (False, True)
    """
    a, b = components(label)
    signs_a, signs_b = _signs(a), _signs(b)
    return any(x != y and (x not in signs_b or y not in signs_a) for x in signs_a & active for y in signs_b & active)


def score_emotions(
    aus: dict[str, float],
    label_set: LabelSet = "compound",
    threshold: float = facs.PRESENCE_THRESHOLD,
    transcript: str = "",
) -> dict[str, float]:
    """Per-label scores in [0, 1] from AU intensities (see the module docstring for the formula).

    >>> s = score_emotions({"AU6": 2.5, "AU12": 3.0})
    >>> max(s, key=s.get)
    'happiness'
    """
    aus = facs.coerce_aus(aus)
    act = _activations(aus, threshold)
    total = sum(act.values())
    scores: dict[str, float] = {"neutral": max(0.0, 1.0 - total)}
    for label, proto in facs.PROTOTYPES.items():
        if label in COMPOUND_LABELS and label_set == "basic":
            continue
        local = dict(act)
        if label == "contempt":
            for n in facs.CONTEMPT_UNILATERAL:
                local[n] = _contempt_activation(aus, n, act)
        coverage = sum(w * local.get(n, 0.0) for n, w in proto.items()) / sum(proto.values())
        unexplained = sum(a for n, a in act.items() if n not in proto) / total if total else 0.0
        score = coverage * (1.0 - 0.5 * unexplained)
        if label in COMPOUND_LABELS:
            score *= COMPOUND_DISCOUNT if components_shown(label, set(act)) else 0.0
        scores[label] = score
    for said in _spoken_emotions(transcript):
        for label in scores:
            if label == said:
                scores[label] += SPEECH_BONUS
    return {label: round(min(1.0, s), 4) for label, s in scores.items()}


def _spoken_emotions(transcript: str) -> set[str]:
    """Basic emotions named in the transcript, skipping negated ones ("not happy")."""
    found: set[str] = set()
    for clause in re.split(r"[.,;!?\n]", transcript or ""):
        words = re.findall(r"[a-zA-Z']+", clause.lower())
        for i, word in enumerate(words):
            if any(w in _NEGATORS for w in words[max(0, i - 3) : i]):
                continue
            label = normalize_label(word, "basic")
            if label and label != "neutral":
                found.add(label)
    return found


def _quote(transcript: str, limit: int = 240) -> str:
    """The transcript as an exact substring (cut at a word boundary), so transcript grounding holds."""
    text = " ".join(transcript.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut


def _au_number(token: str) -> int | None:
    try:
        return facs.parse_au_key(token)[0]
    except ValueError:
        return None


def _observations(
    aus: dict[str, float], threshold: float, transcript: str, prosody: str, changes: str = "", face: bool = True
) -> tuple[str, list[str]]:
    items = facs.active_aus(aus, threshold)
    cited = [key for key, _ in items]
    if items:
        parts = []
        for key, value in items:
            au = facs.AU_TABLE.get(facs.parse_au_key(key)[0])
            desc = f": {au.description}" if au else ""
            parts.append(f"{facs.au_phrase(key, value)}{desc}")
        text = "; ".join(parts) + "."
    elif not face:
        text = "No face is visible in this window; only the speech can be read."
    else:
        text = "No action unit reaches the presence threshold; the face is relaxed."
    # Only changes of AUs active at the peak are cited, so the CoT never cites an AU that is not present.
    shown = {facs.parse_au_key(key)[0] for key in cited}
    moved = [c for c in changes.split("; ") if c.strip() and _au_number(c.split()[0]) in shown]
    if moved:
        text += f" Over time: {'; '.join(moved)}."
    if transcript.strip():
        quote = _quote(transcript)
        text += f' Speech: "{quote}"' + ("" if quote[-1] in ".!?" else ".")
    if prosody.strip():
        text += f" Prosody: {prosody.strip().rstrip('.')}."
    return text, cited


def _support(label: str, cited: list[str]) -> tuple[list[str], list[int]]:
    """Cited AU keys that belong to the label's prototype, and core prototype AUs that were not observed."""
    proto: dict[int, float] = {}
    for part in (label,) if label in facs.PROTOTYPES else components(label):
        proto.update(facs.PROTOTYPES.get(part, {}))
    hits = [key for key in cited if facs.parse_au_key(key)[0] in proto]
    shown = {facs.parse_au_key(key)[0] for key in cited}
    missing = sorted(n for n, w in proto.items() if w >= 1.0 and n not in shown)
    return hits, missing


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _indefinite(noun: str) -> str:
    """``noun`` with its indefinite article: "an inner brow raiser", "a lip corner puller"."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _interpretation(
    label: str,
    best: str,
    scores: dict[str, float],
    cited: list[str],
    aus: dict[str, float],
    transcript: str,
    face: bool = True,
) -> str:
    sentences: list[str] = []
    if not face:
        spoken = _spoken_emotions(transcript)
        if label in spoken:
            sentences.append(f"With no face to read, the words alone name {label}")
        else:
            sentences.append("With no face to read and no emotion named in the words, nothing shows an emotion")
        return ". ".join(sentences) + "."
    if label == "neutral":
        sentences.append("Without a marked muscle movement the face shows no clear emotional display")
    else:
        hits, missing = _support(label, cited)
        note = _PROTOTYPE_NOTES.get(label, "")
        if label in COMPOUND_LABELS:
            a, b = components(label)
            note = f"the face mixes the signs of {a} and {b}, the compound pattern called {label}"
        if hits:
            named = [f"{key} ({facs.au_name(facs.parse_au_key(key)[0])})" for key in hits]
            verb = "matches" if len(named) == 1 else "match"
            sentences.append(f"{_join(named)} {verb} the expected pattern: {note}")
        else:
            sentences.append(f"The observed action units give little direct support for {label}; {note}")
        if missing and hits:
            words = [_indefinite(facs.au_name(n)) for n in missing[:3]]
            verb = "is" if len(words) == 1 else "are"
            sentences.append(f"{_join(words).capitalize()} would strengthen this reading but {verb} not visible")
    ranked = sorted(((s, lab) for lab, s in scores.items() if lab != label), reverse=True)
    own = scores.get(label, 0.0)
    if ranked and 0.15 < ranked[0][0] <= own:  # a runner-up that scores higher is said below, as the face's lean
        runner = ranked[0][1]
        sentences.append(f"{runner.capitalize()} fits less well (score {ranked[0][0]:.2f} against {own:.2f})")
    if label != best:
        sentences.append(f"The face alone leans towards {best}, but the given label is {label}")
    spoken = _spoken_emotions(transcript)
    if spoken:
        agree = label in spoken or any(part in spoken for part in components(label))
        said = ", ".join(sorted(spoken))
        sentences.append(f"The words name {said}, which {'agrees with' if agree else 'differs from'} the face")
    return ". ".join(sentences) + "."


def explain(
    aus: dict[str, float],
    label: str | None = None,
    transcript: str = "",
    prosody: str = "",
    label_set: LabelSet = "compound",
    threshold: float = facs.PRESENCE_THRESHOLD,
    changes: str = "",
    face: bool = True,
) -> RuleExplanation:
    """Write the Exp-CoT for a face: for its arg-max label, or for a given (gold) canonical ``label``.

    ``changes`` is a video window's change-over-time text (``facs.au_change_text``); changes of active AUs are cited.
    ``face=False`` is a speech-only window (no face visible): the CoT says so and only the words can name a label.
    """
    aus = facs.coerce_aus(aus)
    scores = score_emotions(aus, label_set, threshold, transcript)
    if not face:  # no face: an emotion named in the words is the only evidence
        spoken = _spoken_emotions(transcript)
        scores = {lab: 1.0 if lab in spoken else 0.0 for lab in scores} | {"neutral": 0.0 if spoken else 1.0}
    best = max(scores, key=lambda k: (scores[k], k == "neutral"))
    chosen = label or best
    observations, cited = _observations(aus, threshold, transcript, prosody, changes, face)
    interpretation = _interpretation(chosen, best, scores, cited, aus, transcript, face)
    conclusion = f"The expression is best described as {chosen}."
    text = (
        f"<think>\nKey observations: {observations}\nOverall interpretation: {interpretation}\n"
        f"Conclusion: {conclusion}\n</think>\n<answer>{chosen}</answer>"
    )
    return RuleExplanation(text=text, label=chosen, scores=scores, cited=cited)


class RuleReasoner:
    """The rules backend: deterministic FACS scoring, no model weights. Implements the Reasoner protocol."""

    name = "rules"

    def __init__(self, label_set: LabelSet | None = None, threshold: float = facs.PRESENCE_THRESHOLD, **_: object):
        self.label_set = label_set  # None: use each Evidence's own label_set
        self.threshold = threshold

    def reason(self, evidence: list[Evidence]) -> list[Reasoning]:
        out = []
        for ev in evidence:
            label_set = self.label_set or ev.label_set
            result = explain(
                ev.aus,
                transcript=ev.transcript,
                prosody=ev.prosody,
                label_set=label_set,
                threshold=self.threshold,
                changes=ev.au_changes,
                face=ev.meta.get("face", True) is not False,
            )
            out.append(to_reasoning(result.text, self.name, label_set, scores=result.scores))
        return out
