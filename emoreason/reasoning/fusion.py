"""Fusion of the two evidence channels: the face model's class probabilities and the FACS rule engine's scores.

The rule (a product of experts, two numbers fitted on the selection split, never on the report split):

1. The rules' scores ``s`` (``rules._face_scores`` plus speech) become a distribution ``q = softmax(s / T)``.
2. Over the face model's labels, ``fused ∝ p * q ** W``: the model's probability ``p`` times the rules'
   distribution raised to the weight ``W``. With no AUs (a crop without landmarks) ``fused = p``; with no face
   model, ``fused = q`` over every label the rules score.
3. The label is the arg-max of ``fused``, except that a label only the rules can name (a compound, contempt) is
   kept when the rules chose it and the fused reading's top label is one of its parts (contempt: a face the model
   reads as neutral, happiness, disgust or anger): the AUs show the blend, the model confirms one side. That label
   then carries its part's probability.

``T`` and ``W`` come from the expression model's card (``fusion``: ``temperature``, ``rules_weight``, written by
``fit_fusion`` on PublicTest); ``DEFAULT_FUSION`` holds them for a card without them. ``scores`` in every output
are these fused probabilities: they sum to 1 (up to rounding).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass

from emoreason.labels import COMPOUND_LABELS, components

DEFAULT_FUSION = {"temperature": 0.15, "rules_weight": 0.5}
CONTEMPT_PARTS = ("neutral", "happiness", "disgust", "anger")
TEMPERATURES = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
WEIGHTS = tuple(round(0.1 * i, 1) for i in range(0, 16))  # 0 .. 1.5


@dataclass
class Fused:
    """The fused reading: label, probabilities, and what each channel said (for the CoT)."""

    label: str
    probabilities: dict[str, float]
    model_label: str | None  # the face model's own top label (None without a model reading)
    model_probability: float
    rules_label: str | None  # the rules' own label (None without AUs)


def params(card_fusion: dict | None) -> tuple[float, float]:
    """(temperature, rules_weight) from a card's ``fusion`` block; without one, the shipped model's card's, else
    ``DEFAULT_FUSION``."""
    merged = {**DEFAULT_FUSION, **(card_fusion or shipped_fusion())}
    return float(merged["temperature"]), float(merged["rules_weight"])


@functools.cache
def shipped_fusion() -> dict:
    """The fusion block of the shipped expression model's card (read once; {} when it has none)."""
    import json

    from emoreason.perception.expression import DEFAULT_WEIGHTS, card_path

    try:
        return dict(json.loads(card_path(DEFAULT_WEIGHTS).read_text(encoding="utf-8")).get("fusion") or {})
    except (OSError, ValueError):
        return {}


def softmax(scores: dict[str, float], temperature: float, labels: Iterable[str] | None = None) -> dict[str, float]:
    """``softmax(s / T)`` over ``labels`` (default: every key).

    >>> q = softmax({"happiness": 0.6, "neutral": 0.1}, 0.1); round(q["happiness"], 3)
    0.993
    """
    keys = list(labels) if labels is not None else list(scores)
    if not keys:
        return {}
    top = max(scores.get(k, 0.0) for k in keys)
    exps = {k: math.exp((scores.get(k, 0.0) - top) / temperature) for k in keys}
    total = sum(exps.values())
    return {k: v / total for k, v in exps.items()}


def fuse(
    rule_scores: dict[str, float] | None,
    rules_label: str | None,
    expression: dict[str, float] | None,
    card_fusion: dict | None = None,
) -> Fused:
    """The fused reading (module docstring). ``rule_scores``/``rules_label`` are None when the face has no AUs;
    ``expression`` is empty/None without a face model. At least one of the two must be given."""
    temperature, weight = params(card_fusion)
    if not expression:
        if rule_scores is None or rules_label is None:
            raise ValueError("fusion needs the rules' scores or the face model's probabilities")
        q = softmax(rule_scores, temperature)
        return Fused(rules_label, _rounded(q), None, 0.0, rules_label)
    model_label = max(expression, key=expression.get)
    if rule_scores is None:
        return Fused(model_label, _rounded(expression), model_label, expression[model_label], None)
    q = softmax(rule_scores, temperature, expression)
    raw = {lab: expression[lab] * max(q[lab], 1e-12) ** weight for lab in expression}
    total = sum(raw.values()) or 1.0
    fused = {lab: v / total for lab, v in raw.items()}
    top = max(fused, key=fused.get)
    label = top
    if rules_label is not None and rules_label not in fused:
        parts: tuple[str, ...] = ()
        if rules_label == "contempt":
            parts = CONTEMPT_PARTS
        elif rules_label in COMPOUND_LABELS:
            parts = tuple(components(rules_label))
        if top in parts:
            label = rules_label
            fused = {(rules_label if lab == top else lab): v for lab, v in fused.items()}
    return Fused(label, _rounded(fused), model_label, expression[model_label], rules_label)


def log_odds(
    rule_scores: dict[str, float], expression: dict[str, float], a: str, b: str, card_fusion: dict | None = None
) -> tuple[float, float]:
    """How much each channel favours label ``a`` over ``b`` in the fused reading, as natural log-odds: (the face
    model's ``log(p_a / p_b)``, the rules' ``W * log(q_a / q_b)``). Their sum is the fused ``log(fused_a / fused_b)``
    (step 2 of the module docstring), so each one's share of it says which channel decided.

    >>> card = {"temperature": 0.15, "rules_weight": 0.5}
    >>> m, r = log_odds({"sadness": 0.3, "anger": 0.4}, {"sadness": 0.4, "anger": 0.2}, "sadness", "anger", card)
    >>> round(m, 2), round(r, 2)
    (0.69, -0.33)
    """
    temperature, weight = params(card_fusion)
    q = softmax(rule_scores, temperature, expression)

    def ratio(x: dict[str, float]) -> float:
        return math.log(max(x.get(a, 0.0), 1e-12) / max(x.get(b, 0.0), 1e-12))

    return ratio(expression), weight * ratio(q)


def _rounded(probs: dict[str, float]) -> dict[str, float]:
    return {lab: round(float(p), 4) for lab, p in probs.items()}


def fit_fusion(
    records: list[tuple[dict[str, float] | None, str | None, dict[str, float], str]],
    floor: float = 0.40,
) -> dict[str, float]:
    """Choose ``temperature`` and ``rules_weight`` on the selection split: ``records`` are (rule scores or None,
    rules label or None, model probabilities, true label). The pair with the best accuracy among those that keep
    every class's recall >= ``floor``, else the best mean recall; ties go to the smaller weight."""
    best: tuple[tuple[float, float, float], dict[str, float]] | None = None
    labels = sorted({r[3] for r in records})
    for temperature in TEMPERATURES:
        for weight in WEIGHTS:
            card = {"temperature": temperature, "rules_weight": weight}
            hits = {lab: [0, 0] for lab in labels}
            for scores, rules_label, expression, truth in records:
                got = fuse(scores, rules_label, expression, card).label
                hits[truth][0] += got == truth
                hits[truth][1] += 1
            recall = [h / n for h, n in hits.values() if n]
            war = sum(h for h, _ in hits.values()) / max(1, sum(n for _, n in hits.values()))
            uar = sum(recall) / max(1, len(recall))
            ok = min(recall, default=0.0) >= floor
            key = (1.0 if ok else 0.0, war if ok else uar, -weight)
            if best is None or key > best[0]:
                best = (key, {"temperature": temperature, "rules_weight": weight, "select_war": round(war, 4),
                              "select_uar": round(uar, 4)})
    return best[1] if best else dict(DEFAULT_FUSION)
