"""The rules backend's answers that weigh the rule engine's own scores: "why not X?", "is she X?", "which AU
decided?" and "how sure are you?".

Each answer reads one face's fused probabilities (``Reasoning.scores``, ``reasoning.fusion``), the rules' own scores
and label (``rules.RuleExplanation``), the face model's probabilities (``Evidence.expression``) and the cues of a label
(``reasoning.cues``: which of its AUs the face shows, which are missing, what rules it out), so what the chat says
about a face is what the CoT says about it. Label words in a question go through the one normaliser
(``text.emotion_mentions`` -> ``labels.normalize_label``): "disgusted", "sad", "scared" are disgust, sadness, fear.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emoreason import facs
from emoreason.labels import COMPOUND_LABELS, LabelSet, components
from emoreason.reasoning.cues import Cues, label_cues, name
from emoreason.text import emotion_mentions, join

if TYPE_CHECKING:
    from emoreason.chat.items import Item
    from emoreason.reasoning.rules import RuleExplanation

TIE = 0.02  # rules.TIE: a runner-up this close is as likely
PARTLY = 0.15  # a label this probable, or within TIE of the reading, shows "partly"


def named_labels(question: str, label_set: LabelSet = "compound") -> list[str]:
    """The labels a question names, in order, negated or not ("why not sadness?" names sadness).

    >>> named_labels("Is she disgusted?"), named_labels("why not sad or scared?"), named_labels("which AU decided?")
    (['disgust'], ['sadness', 'fear'], [])
    """
    out: list[str] = []
    for mention in emotion_mentions(question, label_set):
        if mention.label not in out:
            out.append(mention.label)
    return out


def other_labels(question: str, label_set: LabelSet = "compound") -> list[str]:
    """Emotion words a question names that the rule engine has no label for ("anxious": anxiety)."""
    known = set(named_labels(question, label_set))
    return [m.label for m in emotion_mentions(question, "open") if m.label not in known]


def explanation(item: Item) -> RuleExplanation:
    """The rule engine's full reading of the item (rule scores, rules label), made once."""
    if item.explanation is None:
        from emoreason.reasoning.rules import explain_evidence

        item.explanation = explain_evidence(item.evidence)
    return item.explanation


def cues(item: Item, label: str) -> Cues:
    ev = item.evidence
    return label_cues(label, ev.aus, uncertain=ev.uncertain_aus, flags=ev.quality)


def _has_aus(item: Item) -> bool:
    ev = item.evidence
    return ev.meta.get("face", True) is not False and "no_landmarks" not in ev.quality


def _p(item: Item, label: str) -> float:
    return float(item.reasoning.scores.get(label, 0.0))


def _runner_up(item: Item) -> tuple[str, float] | None:
    rest = sorted((kv for kv in item.reasoning.scores.items() if kv[0] != item.reasoning.label), key=lambda kv: -kv[1])
    return rest[0] if rest else None


def _au(key: str, item: Item) -> str:
    """A shown AU with its intensity word: ``AU4 brow lowerer (slight)``."""
    value = dict(facs.active_aus(item.evidence.aus)).get(key, 0.0)
    doubtful = facs.parse_au_key(key)[0] in facs.uncertain_numbers(item.evidence.uncertain_aus)
    return facs.au_phrase(key, value, doubtful)


def _channel_reasons(item: Item, label: str) -> list[str]:
    """Where a channel prefers the reading to ``label``: the AU rules' own scores, the face model's probabilities."""
    chosen = item.reasoning.label or ""
    if label == chosen:
        return []
    x = explanation(item)
    reasons = []
    rules = x.rule_scores
    if rules and rules.get(chosen, 0.0) > rules.get(label, 0.0):
        reasons.append(
            f"the AU rules score {chosen} higher ({rules.get(chosen, 0.0):.2f} against {rules.get(label, 0.0):.2f})"
        )
    model = item.evidence.expression
    key = chosen if chosen in model else next((k for k in model if k not in item.reasoning.scores), chosen)
    if model and label in model and model.get(key, 0.0) > model[label]:
        reasons.append(f"the face model prefers {key} ({model[key]:.2f} against {model[label]:.2f})")
    return reasons


def _cue_lines(item: Item, label: str) -> list[str]:
    """What the face shows for ``label``: its cues present, missing, and what speaks against it."""
    if not _has_aus(item):
        reasons = _channel_reasons(item, label)
        return ["  No action units can be read here (no face landmarks): only the face model reads this face."] + (
            [f"  Against it: {'; '.join(reasons)}."] if reasons else []
        )
    c = cues(item, label)
    if label == "neutral":
        lines = ["  A neutral face shows no movement."]
        if c.against:
            lines.append(
                f"  Against it: {join([_au(k, item) for k in c.unexplained])} "
                f"{'is a visible movement' if len(c.unexplained) == 1 else 'are visible movements'}."
            )
        return lines
    present = [_au(k, item) for k in c.seen]
    lines = [f"  Cues of {label} present: {join(present) if present else 'none'}."]
    missing = [name(n, c.states) for n in c.missing] + [
        f"{name(n, c.states)} (not readable with the eyes closed)" for n in c.unreadable
    ]
    if missing:
        lines.append(f"  Missing: {join(missing)}.")
    against = list(c.against) + _channel_reasons(item, label)
    if c.unexplained:
        words = join([_au(k, item) for k in c.unexplained])
        against.append(f"{words} {'is' if len(c.unexplained) == 1 else 'are'} not part of the {label} pattern")
    if against:
        lines.append(f"  Against it: {'; '.join(against)}.")
    return lines


def _model_line(item: Item, labels: list[str]) -> str:
    expression = item.evidence.expression
    if not expression:
        return ""
    top = max(expression, key=expression.get)
    said = ", ".join(f"{lab} {expression[lab]:.2f}" for lab in labels if lab in expression)
    if not said:
        return f"  Face model: it reads only the basic labels; its top reading is {top} {expression[top]:.2f}."
    return f"  Face model: {said}" + ("." if top in labels else f" (its top reading: {top} {expression[top]:.2f}).")


def why_not(item: Item, where: str, label: str) -> str:
    """ "Why not X?": X's cues present and missing, what speaks against it, and its probability against the
    reading's."""
    chosen = item.reasoning.label or "no label"
    if label == chosen:
        return f"{where}: {label} is the reading (probability {_p(item, label):.2f})."
    if chosen in COMPOUND_LABELS and label in components(chosen):
        return f"{where}: {label} is part of the reading: {chosen} is a blend of {join(list(components(chosen)))}."
    lines = [
        f"{where}: not {label}: {label} has probability {_p(item, label):.2f} against {_p(item, chosen):.2f} "
        f"for {chosen}."
    ]
    lines += _cue_lines(item, label)
    lines.append(_model_line(item, [label, chosen]))
    return "\n".join(line for line in lines if line)


def check(item: Item, where: str, label: str) -> str:
    """ "Is she X?": yes, partly or no, with the evidence."""
    chosen = item.reasoning.label or "no label"
    p, top = _p(item, label), _p(item, chosen)
    blend = (
        chosen in COMPOUND_LABELS
        and label in components(chosen)
        or (label in COMPOUND_LABELS and chosen in components(label))
    )
    if label == chosen:
        head = f"{where}: yes, {label} (probability {top:.2f})."
    elif blend or p >= PARTLY or p >= top - TIE:
        reading = f"a blend of {join(list(components(chosen)))}" if chosen in COMPOUND_LABELS else "the reading"
        head = f"{where}: partly: {label} has probability {p:.2f}, but {chosen} ({top:.2f}) is {reading}."
    else:
        head = f"{where}: no: {label} has probability {p:.2f}; the reading is {chosen} ({top:.2f})."
    lines = [head, *_cue_lines(item, label), _model_line(item, [label] if label == chosen else [label, chosen])]
    return "\n".join(line for line in lines if line)


def _shares(item: Item, c: Cues) -> list[tuple[str, float, float]]:
    """(AU key, its weight in the label's pattern, its share of the label's AU score) for the seen cues, largest
    first: the coverage terms ``w * a`` of ``rules`` step 2."""
    from emoreason.reasoning.rules import UNCERTAIN_WEIGHT

    weights: dict[int, float] = {}
    for part in (c.label, *components(c.label)) if c.label in COMPOUND_LABELS else (c.label,):
        for n, w in facs.PROTOTYPES.get(part, {}).items():
            weights[n] = max(weights.get(n, 0.0), w)
    terms = []
    for key in c.seen:
        n = facs.parse_au_key(key)[0]
        a = min(c.strength[key], 3.0) / 3.0 * (UNCERTAIN_WEIGHT if c.states[n] == facs.UNCERTAIN else 1.0)
        terms.append((key, weights.get(n, 0.0), weights.get(n, 0.0) * a))
    total = sum(t for _, _, t in terms) or 1.0
    return sorted(((k, w, t / total) for k, w, t in terms), key=lambda x: -x[2])


def decided(item: Item, where: str) -> str:
    """ "Which AU decided?": the AUs that carry the label (their share of its AU score) and, with a face model, each
    channel's share of the margin over the runner-up."""
    chosen = item.reasoning.label or "no label"
    x = explanation(item)
    lines = [f"{where}: {chosen}."]
    if x.decided_by == "speech":
        lines.append("  The words decided: the face shows little, and the speech names it.")
    if not _has_aus(item):
        lines.append(
            f"  No action units can be read here (no face landmarks): the face model alone decided "
            f"({_p(item, chosen):.2f})."
        )
        return "\n".join(lines)
    c = cues(item, chosen)
    if chosen == "neutral":
        moved = [_au(k, item) for k in c.unexplained]
        one = len(moved) == 1
        if not moved:
            lines.append("  No AU carries an emotion: no action unit reaches the presence threshold.")
        elif x.rules_label in (None, "neutral"):
            lines.append(
                f"  No AU carries an emotion: {join(moved)} {'shows' if one else 'show'} no emotion's signature."
            )
        else:
            lines.append(
                f"  Neutral rests on no AU: {join(moved)} {'is' if one else 'are'} visible, and alone the AUs "
                f"read {x.rules_label}."
            )
    elif c.seen:
        parts = [
            f"{_au(k, item)}: {'core' if w >= 1.0 else 'supporting'} cue, {share:.0%}"
            for k, w, share in _shares(item, c)
        ]
        lines.append(f"  The AUs that carry {chosen} (share of its AU score): {'; '.join(parts)}.")
    else:
        lines.append(f"  No AU of the {chosen} pattern is present.")
    lines.append(_channels(item, x))
    return "\n".join(line for line in lines if line)


def _channels(item: Item, x: RuleExplanation) -> str:
    """Which channel decided: each one's log-odds for the label over the runner-up (``fusion.log_odds``)."""
    from emoreason.reasoning.fusion import log_odds

    chosen = item.reasoning.label or ""
    expression = item.evidence.expression
    if not expression:
        return f"  There is no face model reading: the AU rules alone decided ({x.rules_label})."
    runner = _runner_up(item)
    if runner is None or not x.rule_scores:
        return ""
    key = chosen if chosen in expression else next((k for k in expression if k not in item.reasoning.scores), chosen)
    model, rules = log_odds(x.rule_scores, expression, key, runner[0], item.evidence.fusion or None)
    shown = f"against {runner[0]}, the face model adds {model:+.2f} and the AUs {rules:+.2f} log-odds"
    if key != chosen:
        shown = f"{chosen} is a label only the AUs name; the face model confirms its part {key}. " + shown
    if model > 0 and rules > 0:
        share = model / (model + rules)
        verdict = f"the face model carries {share:.0%} of the margin, the AUs {1 - share:.0%}"
    elif model > 0:
        verdict = f"the face model decided, against the AUs (alone they read {x.rules_label})"
    elif rules > 0:
        top = max(expression, key=expression.get)
        verdict = f"the AUs decided, against the face model (it reads {top} {expression[top]:.2f})"
    else:
        verdict = "neither channel alone favours it"
    return f"  Channels: {shown}: {verdict}."


def sure(item: Item, where: str, asked: list[str] | None = None) -> str:
    """ "How sure?": the fused probability, the margin to the runner-up, and every flag that makes it uncertain."""
    from emoreason.reasoning.rules_text import UNSURE

    chosen = item.reasoning.label or "no label"
    scores = item.reasoning.scores
    if not scores:
        return f"{where}: {chosen}; this backend gave no scores."
    x = explanation(item)
    ev = item.evidence
    top = _p(item, chosen)
    source = (
        "the face model and the AU rules, fused"
        if ev.expression and _has_aus(item)
        else "the face model alone"
        if ev.expression
        else "the AU rules"
    )
    text = f"{where}: {chosen}, probability {top:.2f} ({source})"
    runner = _runner_up(item)
    flags = []
    if runner:
        margin = round(top, 2) - round(runner[1], 2)  # as the two are shown
        level = "clear" if margin >= 0.25 else "moderate" if margin >= 0.1 else "weak"
        text += f"; runner-up {runner[0]} {runner[1]:.2f}, a {level} margin of {margin:.2f}"
        if top - runner[1] <= TIE:
            flags.append(f"{runner[0]} is nearly as likely")
    text += "."
    for label in asked or []:
        if label != chosen:
            text += f" {label.capitalize()}: {_p(item, label):.2f}."
    if ev.expression:
        model = max(ev.expression, key=ev.expression.get)
        if _has_aus(item) and x.rules_label and x.rules_label != model:
            flags.append(f"the face model ({model} {ev.expression[model]:.2f}) and the AUs ({x.rules_label}) disagree")
        if model == chosen and ev.expression[model] < UNSURE and (not _has_aus(item) or x.rules_label != chosen):
            flags.append(f"the face model decides with only {ev.expression[model]:.2f}")
    if not _has_aus(item) and ev.meta.get("face", True) is not False:
        flags.append("no face landmarks, so no action units: the face model alone reads it")
    if x.decided_by == "speech":
        flags.append("the words decided, not the face")
    if ev.uncertain_aus:
        flags.append(f"uncertain AUs (geometry and blendshapes disagree): {', '.join(ev.uncertain_aus)}")
    if ev.quality_text:
        flags.append(ev.quality_text.strip().rstrip("."))
    text += " Uncertainty: " + ("; ".join(flags) if flags else "none flagged") + "."
    return text
