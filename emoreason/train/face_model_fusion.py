"""The second half of `emoreason train face-model`: read the selection and report splits' images through the
analyze pipeline (detection, crop, face model, AUs, rules), fit the fusion weights on the selection split
(``reasoning.fusion.fit_fusion``) into the model card, then score the report split once.

The same readings give ``benchmarks/accuracy.py --data`` its columns: rules only, face model only, fused.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emoreason.io import atomic_write_json
from emoreason.perception.expression import EXPRESSION_LABELS, card_path

logger = logging.getLogger(__name__)
ECE_BINS = 15


@dataclass
class Reading:
    """One image through the pipeline: what each channel and the fusion said about its largest face."""

    path: str
    truth: str
    status: str  # ok | no_face | error
    label: str | None = None  # the fused label, as `emoreason analyze` gives it
    probabilities: dict[str, float] = field(default_factory=dict)  # fused
    rules_label: str | None = None  # None: no AUs (no face, or a crop without landmarks)
    rule_scores: dict[str, float] | None = None
    expression: dict[str, float] = field(default_factory=dict)
    quality: list[str] = field(default_factory=list)


def read_images(
    paths: Sequence[str], truths: Sequence[str], expression_model: str | os.PathLike[str] | None,
    label_set: str = "basic",
) -> list[Reading]:
    """Every path through ``analyze_paths`` with the rule reasoner and ``expression_model``; the largest face is
    the one the label is about."""
    from emoreason.pipelines.image import analyze_paths
    from emoreason.reasoning.rules import RuleReasoner, explain

    readings = []
    results = analyze_paths(list(paths), RuleReasoner(label_set=label_set), label_set=label_set,
                            expression_model=expression_model)
    for path, truth, result in zip(paths, truths, results, strict=True):
        reading = Reading(str(path), truth, result.status)
        if result.status == "ok" and result.faces:
            face = max(result.faces, key=lambda f: f.box[2] * f.box[3])
            own = explain(face.aus, label_set=label_set, uncertain=face.uncertain_aus, quality=face.quality)
            reading.label, reading.probabilities = face.label, dict(face.scores)
            reading.rules_label, reading.rule_scores = own.rules_label, own.rule_scores or None
            reading.expression, reading.quality = dict(face.expression), list(face.quality)
        readings.append(reading)
    return readings


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = ECE_BINS) -> float:
    """ECE: ``sum_b |B|/N * |accuracy(B) - mean confidence(B)|`` over equal-width confidence bins.

    >>> expected_calibration_error([0.9, 0.9, 0.6, 0.6], [True, True, True, False])
    0.1
    """
    conf, hit = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    if not len(conf):
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.mean() * abs(hit[mask].mean() - conf[mask].mean())
    return round(float(total), 4)


def channel_label(reading: Reading, channel: str) -> str | None:
    """The label one evidence channel gives a reading: ``rules`` (the AU rules alone), ``model`` (the face model's
    top class) or ``fused`` (what ``analyze`` answers); None where that channel has no reading."""
    if channel == "rules":
        return reading.rules_label
    if channel == "model":
        return max(reading.expression, key=reading.expression.get) if reading.expression else None
    return reading.label


def channel_scores(readings: list[Reading], channel: str, labels: Sequence[str] = EXPRESSION_LABELS) -> dict[str, Any]:
    """WAR, UAR, per-class recall, confusion and the no-reading count of one channel (``rules``, ``model``,
    ``fused``) over the readings; an image without a reading counts as wrong."""
    from emoreason.train.face_model import scores

    truth, pred, none = [], [], 0
    confidence, correct = [], []
    for r in readings:
        got = channel_label(r, channel)
        if got is None:
            none += 1
        truth.append(labels.index(r.truth))
        pred.append(labels.index(got) if got in labels else -1)
        if channel == "fused" and r.probabilities:
            top = max(r.probabilities, key=r.probabilities.get)
            confidence.append(r.probabilities[top])
            correct.append(top == r.truth)
    result = scores(np.array(truth, dtype=np.int64), np.array(pred, dtype=np.int64), tuple(labels))
    result["no_reading"] = none
    if confidence:
        result["ece"] = expected_calibration_error(confidence, correct)
    return result


def split_files(corpus: Any, split: str, folder: Path) -> tuple[list[str], list[str]]:
    """The image files and labels of one split; crops with no file (FER2013's CSV) are written as PNGs."""
    from PIL import Image

    x, y = corpus.splits[split]
    paths = corpus.paths.get(split)
    if not paths:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, crop in enumerate(x):
            path = folder / f"{split}_{i:05d}.png"
            Image.fromarray(crop, mode="L").save(path)
            paths.append(str(path))
    return list(paths), [EXPRESSION_LABELS[i] for i in y]


def fit_and_report(
    weights: Path, corpus: Any, select: str, report: str | None, say: Callable[[str], None]
) -> dict[str, Any]:
    """Fit the fusion on ``select`` through the pipeline, write it into the card, then read ``report`` once."""
    import json

    from emoreason.perception.expression import forget
    from emoreason.reasoning.fusion import fit_fusion

    card_file = card_path(weights)
    with tempfile.TemporaryDirectory(prefix="emoreason-fm-") as tmp:
        paths, truths = split_files(corpus, select, Path(tmp) / "select")
        say(f"reading {len(paths)} {select} images through the pipeline to fit the fusion")
        readings = read_images(paths, truths, weights)
        records = [(r.rule_scores, r.rules_label, r.expression, r.truth) for r in readings if r.expression]
        fusion = fit_fusion(records) | {"fitted_on": select, "n": len(records)}
        card = json.loads(card_file.read_text(encoding="utf-8"))
        card["fusion"] = fusion
        atomic_write_json(card_file, card)
        forget(weights)
        say(f"fusion on {select}: temperature {fusion['temperature']}, rules weight {fusion['rules_weight']} "
            f"(WAR {fusion['select_war']:.4f}, UAR {fusion['select_uar']:.4f})")
        readings = read_images(paths, truths, weights)
        card["pipeline"] = {select: {c: channel_scores(readings, c) for c in ("rules", "model", "fused")}}
        if report:
            paths, truths = split_files(corpus, report, Path(tmp) / "report")
            say(f"reading {len(paths)} {report} images through the pipeline, once, to report")
            readings = read_images(paths, truths, weights)
            card["pipeline"][report] = {c: channel_scores(readings, c) for c in ("rules", "model", "fused")}
            card["pipeline"][report]["note"] = "read once, after every choice was made on " + select
        atomic_write_json(card_file, card)
        forget(weights)
    return card
