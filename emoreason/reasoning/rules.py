"""The FACS rule engine: the embedded default reasoner and the Exp-CoT engine that writes training CoTs.

Scoring (deterministic; all numbers are in this module):

1. Each AU's bilateral intensity ``I`` (the stronger side) becomes an activation ``a = min(I, 3) / 3`` when
   ``I >= threshold`` (a "marked" C-level AU saturates), else 0. An *uncertain* AU (landmark geometry and
   blendshapes disagree, ``Evidence.uncertain_aus``) counts three quarters: ``a = 0.75 * min(I, 3) / 3``.
2. For every emotion ``e`` with prototype weights ``w`` (``facs.PROTOTYPES``; core AUs 1.0, supporting 0.5/0.25):
   ``coverage_e = sum(w_n * a_n) / sum(w_n)`` - how much of the prototype the face shows.
3. Evidence the prototype does not explain lowers the score:
   ``unexplained_e = sum(a_n, n not in e) / sum(a_n)`` and ``score_e = coverage_e * (1 - 0.5 * unexplained_e)``.
4. **Signatures.** A basic emotion whose signature (``facs.SIGNATURES``: AU12 for happiness; AU15, AU1+4 or AU1+17
   for sadness; AU4 with AU7, AU23, AU24 or AU5, or a marked AU4 >= 3.5, for anger; AU20 with a brow or lid sign
   for fear; ...) is not shown in full scores ``min(0.2 * score, 0.06)``, below neutral's floor and its tie band:
   one AU is not an emotion, so a slight AU4 alone on a calm face is not anger or sadness, AU20 alone is not
   fear, and an open laughing mouth (AU26 without raised brows or widened eyes) is not surprise; with the eyes
   shut (AU43) neither surprise, fear nor anger (they widen or glare) shows its signature. A signature AU must be at
   least slight (``I >= 1.5``): a trace is not a sign.
   ``facs.CONTRA`` rules a label out the same way: a smile-like mouth under knit brows (AU1+AU4), with the
   eyes shut under raised inner brows (AU43 with AU1), or with the eyes squeezed shut (AU43 >= 4) over closed
   lips (the pseudo-AU -43 of ``_marked``; laughing opens the mouth) is crying, and under a marked frown
   (AU4 >= 3.5, pseudo-AU -4, which is also anger's signature on its own) it is a shout, not happiness.
   Contempt's signature is a one-sided AU14 or AU12: a left/right difference of at least 1.5.
5. Contempt is one-sided: its AU14 (and AU12) activation is the left/right *difference* when sides are known,
   and half the bilateral activation when they are not, so a symmetric smile never reads as contempt.
6. Compound labels (RAF-DB) score ``0.9 * score`` so a basic label wins unless the compound fits clearly better;
   with ``label_set="basic"`` they are not considered. A compound is a blend of two emotions (Du et al. 2014),
   so it is only scored when the face shows *each* component's signature (step 4), or the compound's own
   prototype in full (Du et al.'s AUs) where that prototype is not just part of one component's (AU4+AU15,
   Du's "sadly angry", is all inside sadness's prototype, so it reads sadness unless anger shows its own
   signature too), and each component one of its own signs (a
   prototype AU of weight >= 0.5), two different AUs, at least one of which the other component does not share;
   otherwise it scores 0. Those signs must not be uncertain AUs. So AU4+AU7 (signs of both fear and anger) is
   anger, not "fearfully angry", and one weak or uncertain cue never makes a compound.
7. ``neutral = max(NEUTRAL_FLOOR, 1 - 1.5 * sum(a_n))`` (uncertain AUs at full weight here: they are still visible
   movements): with no AU at or above the threshold the face is neutral
   (score 1), one slight AU (B, ``a = 0.5``) already brings it to 0.25, and signature-less movements never
   outscore the floor of 0.1.
8. Speech: an emotion word said in the transcript ("I'm so happy") adds 0.1 to that label's score (negated
   words - "not happy", "I don't think I'm happy" - add nothing; ``text.emotion_mentions`` reads the words). When
   the face is **weak** (its best
   non-neutral score is below ``FACE_WEAK`` = 0.3) and the words name exactly one basic emotion, the words
   decide: that label's score becomes ``max(score, SPEECH_DECIDES)`` (0.5) and neutral drops to its floor (a still
   face does not outvote the words). The CoT says which evidence decided.
9. Ties: labels within ``TIE`` (0.02) of the best are tied; the tie goes to the one whose prototype explains more
   of the observed activation (``sum(a_n, n in e)``), then to the simpler (basic before compound), then
   alphabetically, and the CoT says the labels fit about equally.

The label is the arg-max score (with the tie rule). ``explain`` writes the ``<think>`` (Key observations, Overall
interpretation, Conclusion) and ``<answer>``, either for the arg-max label or for a given gold label (Exp-CoT data
synthesis). Quality hedges (``Evidence.quality_text``: a turned or small face, closed eyes) are written into the
observations and make the interpretation tentative. The sentences themselves are written in
:mod:`emoreason.reasoning.rules_text`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from emoreason import facs
from emoreason.labels import COMPOUND_LABELS, LabelSet, components
from emoreason.reasoning.cues import label_cues
from emoreason.reasoning.fusion import fuse
from emoreason.reasoning.rules_text import TENTATIVE_FLAGS, _interpretation, _observations, _Reading
from emoreason.schema import Evidence, Reasoning
from emoreason.text import emotion_mentions

COMPOUND_DISCOUNT = 0.9
SPEECH_BONUS = 0.1
SIGNATURE_MISSING = 0.2
NEUTRAL_FLOOR = 0.1
NEUTRAL_GAIN = 1.5
UNCERTAIN_WEIGHT = 0.75
SIGN_MIN = 1.5  # a signature AU must be at least slight (B); a trace (A) is not a sign
FACE_WEAK = 0.3
SPEECH_DECIDES = 0.5
TIE = 0.02


@dataclass
class RuleExplanation:
    """What the rule engine wrote: the full text, the label it concluded, per-label scores, AUs it cited."""

    text: str
    label: str
    scores: dict[str, float]  # the fused probabilities (reasoning.fusion): they sum to 1
    cited: list[str] = field(default_factory=list)
    decided_by: str = "face"  # face | speech | none
    sections: dict[str, str] = field(default_factory=dict)  # key_observations / overall_interpretation / conclusion
    rule_scores: dict[str, float] = field(default_factory=dict)  # the rules' own scores (module docstring), unfused
    rules_label: str | None = None  # the rules' own label; None without AUs (a crop without landmarks)


def _activations(aus: dict[str, float], threshold: float, uncertain: Iterable[str] = ()) -> dict[int, float]:
    doubtful = facs.uncertain_numbers(uncertain)
    return {
        n: min(v, 3.0) / 3.0 * (UNCERTAIN_WEIGHT if n in doubtful else 1.0)
        for n, v in facs.bilateral(aus).items()
        if v >= threshold
    }


def _shown(aus: dict[str, float], threshold: float) -> set[int]:
    """AUs that count for signatures: at least slight (SIGN_MIN); an uncertain AU counts too (at its lower weight
    in the scores)."""
    low = max(threshold, SIGN_MIN)
    return {n for n, v in facs.bilateral(aus).items() if v >= low}


EYES_SQUEEZED = 4.0  # AU43 this strong (stronger side) over closed lips is a squeeze, not a smile


def _marked(aus: dict[str, float]) -> set[int]:
    """Pseudo-AUs for intensity-dependent signs: -43 eyes squeezed shut (``AU43 >= EYES_SQUEEZED``) over closed
    lips (AU25 below threshold), -4 a marked frown (``AU4 >= facs.MARKED_FROWN``)."""
    b = facs.bilateral(aus)
    out = set()
    if b.get(43, 0.0) >= EYES_SQUEEZED and b.get(25, 0.0) < facs.PRESENCE_THRESHOLD:
        out.add(-43)
    if b.get(4, 0.0) >= facs.MARKED_FROWN:  # fused AU4 is mostly geometry: blendshape disagreement is expected
        out.add(-4)
    return out


def signature_shown(label: str, shown: set[int]) -> bool:
    """Whether a basic emotion's signature (``facs.SIGNATURES``) is shown in full; compounds: both components'.

    >>> signature_shown("anger", {4}), signature_shown("anger", {4, 7}), signature_shown("happiness", {6})
    (False, True, False)
    """
    if label in COMPOUND_LABELS:
        return all(signature_shown(part, shown) for part in components(label))
    if label in facs.EYES_OPEN_LABELS and any(sig <= shown for sig in facs.EYES_SHUT):
        return False
    if any(contra <= shown for contra in facs.CONTRA.get(label, ())):
        return False
    return any(sig <= shown for sig in facs.SIGNATURES.get(label, ()))


def _contempt_activation(aus: dict[str, float], number: int, act: dict[int, float]) -> float:
    sides = facs.au_key(number, "L") in aus and facs.au_key(number, "R") in aus
    if sides:
        return min(facs.asymmetry(aus, number), 3.0) / 3.0
    return 0.5 * act.get(number, 0.0)


def _one_sided(aus: dict[str, float], number: int) -> float:
    """How one-sided an AU is: |left - right| with both sides read, the one side's value when only it is given
    ("AU14L"), and the bilateral value when no side is known (an OpenFace reading or a CoT citing "AU14")."""
    left, right = aus.get(facs.au_key(number, "L")), aus.get(facs.au_key(number, "R"))
    if left is not None and right is not None:
        return abs(left - right)
    if left is not None or right is not None:
        return float(left if left is not None else right)  # type: ignore[arg-type]
    return float(aus.get(facs.au_key(number), 0.0))


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


def _gated(score: float) -> float:
    """A score whose signature is missing: scaled by SIGNATURE_MISSING and kept below the neutral floor's tie band,
    so a label without its signature never wins (or ties) against neutral."""
    return min(score * SIGNATURE_MISSING, NEUTRAL_FLOOR - 2 * TIE)


def score_emotions(
    aus: dict[str, float],
    label_set: LabelSet = "compound",
    threshold: float = facs.PRESENCE_THRESHOLD,
    transcript: str = "",
    uncertain: Iterable[str] = (),
) -> dict[str, float]:
    """Per-label scores in [0, 1] from AU intensities (see the module docstring for the formula).

    >>> s = score_emotions({"AU6": 2.5, "AU12": 3.0})
    >>> max(s, key=s.get)
    'happiness'
    >>> s = score_emotions({"AU4": 3.0})  # a lowered brow alone: no signature of anger or sadness
    >>> max(s, key=s.get)
    'neutral'
    """
    face = _face_scores(facs.coerce_aus(aus), label_set, threshold, list(uncertain))
    return _rounded(_with_speech(face, _spoken_emotions(transcript)))


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {label: round(min(1.0, s), 4) for label, s in scores.items()}


def _face_scores(
    aus: dict[str, float], label_set: LabelSet, threshold: float, uncertain: list[str]
) -> dict[str, float]:
    """Steps 1-7 of the module docstring: the face's own scores, unrounded, before any speech."""
    act = _activations(aus, threshold, uncertain)
    shown = _shown(aus, threshold) | _marked(aus)
    total = sum(act.values())
    seen = sum(_activations(aus, threshold).values())  # an uncertain AU is still a visible movement
    scores: dict[str, float] = {"neutral": max(NEUTRAL_FLOOR, 1.0 - NEUTRAL_GAIN * seen)}
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
            own = set(proto)
            inside = any(own <= set(facs.PROTOTYPES[part]) for part in components(label))
            blend = signature_shown(label, shown) or (own <= shown and not inside)
            # each component needs its own sign read with confidence: an uncertain AU does not make a compound
            certain = set(act) - facs.uncertain_numbers(uncertain)
            score *= COMPOUND_DISCOUNT if components_shown(label, certain) and blend else 0.0
        elif label != "contempt" and not signature_shown(label, shown):
            score = _gated(score)
        elif label == "contempt" and (
            any(contra <= shown for contra in facs.CONTRA["contempt"])
            or max(_one_sided(aus, n) for n in facs.CONTEMPT_UNILATERAL) < SIGN_MIN
        ):
            score = _gated(score)
        scores[label] = score
    return scores


def _with_speech(face: dict[str, float], spoken: set[str]) -> dict[str, float]:
    """Step 8 of the module docstring: the face's scores with the emotions named in the words fused in."""
    scores = dict(face)
    for said in spoken:
        if said in scores:
            scores[said] += SPEECH_BONUS
    if len(spoken) == 1:
        (said,) = spoken
        face_best = max((s for lab, s in scores.items() if lab not in ("neutral", said)), default=0.0)
        if said in scores and face_best < FACE_WEAK and scores[said] - SPEECH_BONUS < FACE_WEAK:
            scores[said] = max(scores[said], SPEECH_DECIDES)
            scores["neutral"] = min(scores["neutral"], NEUTRAL_FLOOR)  # a still face does not outvote the words
    return scores


def best_label(
    scores: dict[str, float], aus: dict[str, float] | None = None, threshold: float = facs.PRESENCE_THRESHOLD
) -> tuple[str, list[str]]:
    """The arg-max label with the tie rule (module docstring, step 9), and the labels tied with it.

    >>> best_label({"neutral": 0.1, "anger": 0.42, "sadness": 0.42}, {"AU4": 3.0, "AU15": 2.0, "AU7": 2.0})
    ('anger', ['sadness'])
    """
    top = max(scores.values()) if scores else 0.0
    tied = [lab for lab, s in scores.items() if s >= top - TIE]
    act = _activations(facs.coerce_aus(aus or {}), threshold)

    def explained(label: str) -> float:
        return sum(a for n, a in act.items() if n in facs.prototype_aus(label))

    order = sorted(
        tied, key=lambda lab: (-scores[lab] if len(tied) == 1 else 0.0, -explained(lab), lab in COMPOUND_LABELS, lab)
    )
    return order[0], order[1:]


def _spoken_emotions(transcript: str) -> set[str]:
    """Basic emotions named in the transcript (``text.emotion_mentions``), skipping negated ones ("not happy")."""
    return {m.label for m in emotion_mentions(transcript, "basic") if not m.negated and m.label != "neutral"}


def explain(
    aus: dict[str, float],
    label: str | None = None,
    transcript: str = "",
    prosody: str = "",
    label_set: LabelSet = "compound",
    threshold: float = facs.PRESENCE_THRESHOLD,
    changes: str = "",
    face: bool = True,
    uncertain: Iterable[str] = (),
    quality: Iterable[str] = (),
    quality_text: str = "",
    expression: dict[str, float] | None = None,
    fusion_card: dict[str, float] | None = None,
) -> RuleExplanation:
    """Write the Exp-CoT for a face: for its arg-max label, or for a given (gold) canonical ``label``.

    ``changes`` is a video window's change-over-time text (``facs.au_change_text``); changes of active AUs are cited.
    ``face=False`` is a speech-only window (no face visible): the CoT says so and only the words can name a label.
    ``uncertain`` AUs count three quarters (module docstring); ``quality`` flags and ``quality_text`` make the CoT
    hedge. ``expression`` is the face model's probabilities (``perception.expression``): the label then comes from
    both channels (``reasoning.fusion``, with the model card's ``fusion_card`` weights) and the CoT says which
    decided; ``scores`` are the fused probabilities either way.
    """
    aus = facs.coerce_aus(aus)
    uncertain = list(uncertain)
    flags = set(quality)
    has_aus = face and "no_landmarks" not in flags
    expression = dict(expression or {}) if face else {}
    spoken = _spoken_emotions(transcript)
    face_scores = _face_scores(aus, label_set, threshold, uncertain)
    rule_scores = _rounded(_with_speech(face_scores, spoken))
    if not face:  # no face: an emotion named in the words is the only evidence
        rule_scores = {lab: 1.0 if lab in spoken else 0.0 for lab in rule_scores} | {"neutral": 0.0 if spoken else 1.0}
    rules_best, tied = best_label(rule_scores, aus, threshold)
    read_rules = has_aus or not expression  # without AUs the rules have nothing to add to a model reading
    fused = fuse(rule_scores if read_rules else None, rules_best if read_rules else None, expression, fusion_card)
    best, scores = fused.label, fused.probabilities
    if expression:
        tied = [lab for lab, p in scores.items() if lab != best and p >= scores[best] - TIE]
        face_best = fuse(_rounded(face_scores) if has_aus else None,
                         best_label(_rounded(face_scores), aus, threshold)[0] if has_aus else None,
                         expression, fusion_card).label
    else:
        face_best = best_label(_rounded(face_scores), aus, threshold)[0]
    decided_by = "face"
    if not face:
        decided_by = "speech" if spoken else "none"
    elif best in spoken and best != face_best:
        decided_by = "speech"
    chosen = label or best
    reading = _Reading(
        label=chosen,
        best=best,
        tied=tied,
        scores=scores,
        cited=[],
        spoken=spoken,
        decided_by=decided_by if chosen == best else "label",
        tie=TIE,
        face=face,
        tentative=bool(flags & set(TENTATIVE_FLAGS)),
        model_label=fused.model_label,
        model_probability=fused.model_probability,
        rules_label=fused.rules_label,
        has_aus=has_aus,
        cues=label_cues(chosen, aus, threshold, uncertain, flags) if has_aus else None,
    )
    observations, reading.cited = _observations(
        aus, threshold, transcript, prosody, changes, face, uncertain, quality_text, has_aus, expression
    )
    interpretation = _interpretation(reading)
    conclusion = f"The expression is best described as {chosen}."
    text = (
        f"<think>\nKey observations: {observations}\nOverall interpretation: {interpretation}\n"
        f"Conclusion: {conclusion}\n</think>\n<answer>{chosen}</answer>"
    )
    sections = {"key_observations": observations, "overall_interpretation": interpretation, "conclusion": conclusion}
    return RuleExplanation(
        text=text, label=chosen, scores=scores, cited=reading.cited, decided_by=reading.decided_by, sections=sections,
        rule_scores=rule_scores if has_aus else {}, rules_label=rules_best if has_aus else None,
    )


def explain_evidence(
    ev: Evidence, label: str | None = None, label_set: LabelSet | None = None, **kw: object
) -> RuleExplanation:
    """:func:`explain` on everything an Evidence carries (AUs, speech, prosody, changes, quality)."""
    return explain(
        ev.aus,
        label=label,
        transcript=ev.transcript,
        prosody=ev.prosody,
        label_set=label_set or ev.label_set,  # type: ignore[arg-type]
        changes=ev.au_changes,
        face=ev.meta.get("face", True) is not False,
        uncertain=ev.uncertain_aus,
        quality=ev.quality,
        quality_text=ev.quality_text,
        expression=ev.expression,
        fusion_card=ev.fusion,
        **kw,
    )


class RuleReasoner:
    """The rules backend: deterministic FACS scoring, no model weights. Implements the Reasoner protocol."""

    name = "rules"

    def __init__(self, label_set: LabelSet | None = None, threshold: float = facs.PRESENCE_THRESHOLD, **_: object):
        self.label_set = label_set  # None: use each Evidence's own label_set
        self.threshold = threshold

    def reason(self, evidence: list[Evidence]) -> list[Reasoning]:
        """One Reasoning per Evidence, built from what the engine decided (label, scores, cited AUs, sections), not
        parsed back from its text; tests/reasoning/test_rules.py checks the parse of the text gives the same."""
        return [self.reasoning(self.explain(ev)) for ev in evidence]

    def explain(self, ev: Evidence) -> RuleExplanation:
        """The engine's full reading of one Evidence with this reasoner's settings (the chat reads its rule scores)."""
        return explain_evidence(ev, label_set=self.label_set or ev.label_set, threshold=self.threshold)

    def reasoning(self, result: RuleExplanation) -> Reasoning:
        return Reasoning(
            raw=result.text,
            label=result.label,
            labels=[result.label],
            scores=result.scores,
            aus_cited=list(result.cited),
            format_ok=True,
            truncated=False,
            backend=self.name,
            sections=dict(result.sections),
        )
