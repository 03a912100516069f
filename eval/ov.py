"""Open-vocabulary emotion-set scores (OV-MER style): a free-form set of emotion words against a reference set.

Each word is mapped, with the lexicon shipped in ``emotion_wheels.json`` (package data, sources cited there), to a
group at three levels:

- ``base``: its base form ("joyful" -> joy, "happily" -> happiness, "annoyed" -> annoyance);
- ``synonym``: its synonym group (joy, happiness and delight are one group; annoyance and irritation another);
- ``wheel``: its emotion-wheel sector(s), on each wheel: Plutchik's wheel (8 primaries at three intensities, dyads
  map to both of their primaries: love -> joy + trust) and the Geneva Emotion Wheel 3.0 (20 families).

A word the lexicon does not know is kept as itself at every level (it can only match the same word) and is reported
in ``unknown``; a group a wheel does not place (surprise has no GEW 3.0 family) is kept as its synonym group on that
wheel and reported in ``unplaced``. Negated items ("not happy") are dropped and counted. A RAF-DB compound
("happily surprised") is its two words.

Formula, per level (and per wheel for the wheel level), with ``P_i``/``R_i`` the mapped sets of sample i:

    precision_i = |P_i & R_i| / |P_i|   (0 when P_i is empty: an empty answer scores 0)
    recall_i    = |P_i & R_i| / |R_i|
    precision = mean_i precision_i,  recall = mean_i recall_i,  F = 2 precision recall / (precision + recall)

F comes from the averaged precision and recall, not from the mean of per-sample F. The wheel level is computed per
wheel, then precision, recall and F are each averaged over the wheels. Samples with an empty reference are left
out; no sample left: None. The GRPO ``ov`` reward is :func:`ov_scores` of one sample.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

# The one splitter of answer lists and the one negator set live in labels.py (whole-word rules).
from emoreason.labels import _SPLIT, NEGATORS, _words

LEVELS: tuple[str, ...] = ("base", "synonym", "wheel")
LEXICON_FILE = "emotion_wheels.json"
Labels = str | Sequence[str] | None


@dataclass(frozen=True)
class Lexicon:
    """The parsed lexicon: word -> base form -> synonym group -> sectors on each wheel."""

    base: dict[str, str]  # every known word (surface form or base form) -> its base form
    group: dict[str, str]  # base form -> synonym group
    wheels: dict[str, dict[str, tuple[str, ...]]]  # wheel -> synonym group -> sectors
    ignore: frozenset[str]  # filler and intensity words dropped before lookup ("very", "looks")
    intensity: dict[str, tuple[str, int]]  # Plutchik: base form -> (sector, 1 mild | 2 basic | 3 intense)

    def knows(self, text: str) -> bool:
        """True when every item of ``text`` maps to a known word (nothing unknown, nothing negated)."""
        mapped = map_emotions(text, self)
        return bool(mapped.base) and not mapped.unknown and not mapped.negated


@functools.cache
def load_lexicon() -> Lexicon:
    """The shipped lexicon (``emoreason.eval/emotion_wheels.json``), parsed once."""
    data = json.loads(resources.files("emoreason.eval").joinpath(LEXICON_FILE).read_text(encoding="utf-8"))
    group = {b: name for name, bases in data["synonyms"].items() for b in bases}
    base = {b: b for b in group} | dict(data["words"])
    wheels = {
        name: {g: tuple(s) for g, s in {**wheel["sectors"], **wheel.get("assigned", {})}.items()}
        for name, wheel in data["wheels"].items()
    }
    intensity = {
        word: (sector, level)
        for sector, words in data["wheels"]["plutchik"]["intensities"].items()
        for level, word in enumerate(words, 1)
    }
    return Lexicon(base, group, wheels, frozenset(data["ignore"]), intensity)


@dataclass
class Mapped:
    """One side's emotion words at each level; ``wheel`` holds one set per wheel."""

    base: set[str] = field(default_factory=set)
    synonym: set[str] = field(default_factory=set)
    wheel: dict[str, set[str]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    negated: list[str] = field(default_factory=list)
    unplaced: dict[str, list[str]] = field(default_factory=dict)  # wheel -> groups it has no sector for


def _items(labels: Labels) -> list[str]:
    if labels is None:
        return []
    raw = [labels] if isinstance(labels, str) else [str(x) for x in labels if x]
    return [part for item in raw for part in _SPLIT.split(item) if part.strip()]


def _bases(item: str, lexicon: Lexicon) -> tuple[list[str], str]:
    """The base forms of one answer item and its status: known, unknown (kept as itself), negated or empty."""
    every = _words(item)
    if " ".join(every) in lexicon.base:  # a known phrase first: "no emotion" is neutral, not a negation
        return [lexicon.base[" ".join(every)]], "known"
    if any(w in NEGATORS for w in every):
        return [], "negated"
    words = [w for w in every if w not in lexicon.ignore]
    phrase = " ".join(words)
    if not words:
        return [], "empty"
    if phrase in lexicon.base:
        return [lexicon.base[phrase]], "known"
    if all(w in lexicon.base for w in words):  # "happily surprised", "sad angry"
        return list(dict.fromkeys(lexicon.base[w] for w in words)), "known"
    return [phrase], "unknown"


def map_emotions(labels: Labels, lexicon: Lexicon | None = None) -> Mapped:
    """Map an answer ("joyful, excited") or a list of reference words to their groups at every level.

    >>> m = map_emotions("joyful, excited")
    >>> sorted(m.base), sorted(m.synonym), sorted(m.wheel["plutchik"])
    (['excitement', 'joy'], ['excitement', 'happiness'], ['anticipation', 'joy'])
    >>> map_emotions("not happy, zorgish").negated, map_emotions("not happy, zorgish").unknown
    (['not happy'], ['zorgish'])
    """
    lexicon = lexicon or load_lexicon()
    out = Mapped(wheel={name: set() for name in lexicon.wheels}, unplaced={name: [] for name in lexicon.wheels})
    for item in _items(labels):
        bases, status = _bases(item, lexicon)
        if status == "negated":
            out.negated.append(item.strip())
        elif status == "unknown":
            out.unknown.append(bases[0])
        known = status == "known"
        for b in bases:
            out.base.add(b)
            group = lexicon.group.get(b, b)
            out.synonym.add(group)
            for name, sectors in lexicon.wheels.items():
                if group in sectors:
                    out.wheel[name].update(sectors[group])
                else:
                    out.wheel[name].add(group)
                    if known and group not in out.unplaced[name]:
                        out.unplaced[name].append(group)
    return out


def _pr(pred: set[str], ref: set[str]) -> tuple[float, float]:
    hit = len(pred & ref)
    return (hit / len(pred) if pred else 0.0), hit / len(ref)


def sample_scores(pred: Labels, ref: Labels, lexicon: Lexicon | None = None) -> dict[str, Any] | None:
    """Per-sample precision and recall at each level (the wheel level: the mean over the wheels), the per-wheel
    values, and the unknown words of both sides. None when the reference maps to nothing.

    >>> s = sample_scores("joyful, excited", "happy")
    >>> s["precision"], s["recall"]
    ({'base': 0.0, 'synonym': 0.5, 'wheel': 0.5}, {'base': 0.0, 'synonym': 1.0, 'wheel': 1.0})
    """
    lexicon = lexicon or load_lexicon()
    p, r = map_emotions(pred, lexicon), map_emotions(ref, lexicon)
    if not r.base:
        return None
    per_wheel = {name: _pr(p.wheel[name], r.wheel[name]) for name in lexicon.wheels}
    base, synonym = _pr(p.base, r.base), _pr(p.synonym, r.synonym)
    wheel = tuple(sum(v[k] for v in per_wheel.values()) / len(per_wheel) for k in (0, 1))
    return {
        "precision": {"base": base[0], "synonym": synonym[0], "wheel": wheel[0]},
        "recall": {"base": base[1], "synonym": synonym[1], "wheel": wheel[1]},
        "per_wheel": {name: {"precision": v[0], "recall": v[1]} for name, v in per_wheel.items()},
        "unknown": p.unknown + [w for w in r.unknown if w not in p.unknown],
        "unknown_reference": r.unknown,
        "negated": p.negated,
        "unplaced": {name: sorted(set(p.unplaced[name]) | set(r.unplaced[name])) for name in lexicon.wheels},
    }


def _f(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


@dataclass
class OVScores:
    """Corpus scores: ``precision``/``recall``/``f`` per level, ``per_wheel`` P/R/F, and what went unmatched."""

    n: int
    precision: dict[str, float]
    recall: dict[str, float]
    f: dict[str, float]
    per_wheel: dict[str, dict[str, float]]
    unknown: dict[str, int]  # unknown word -> count (predictions and references)
    negated: int
    unplaced: dict[str, list[str]]  # wheel -> synonym groups it has no sector for (matched as themselves)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def ov_from_samples(samples: Sequence[dict[str, Any] | None]) -> OVScores | None:
    """Aggregate :func:`sample_scores` results (None entries are skipped): mean P and R, F from the means."""
    kept = [s for s in samples if s is not None]
    if not kept:
        return None
    n = len(kept)
    mean = {k: {lv: sum(s[k][lv] for s in kept) / n for lv in LEVELS} for k in ("precision", "recall")}
    wheels = list(kept[0]["per_wheel"])
    per_wheel: dict[str, dict[str, float]] = {}
    for name in wheels:
        p = sum(s["per_wheel"][name]["precision"] for s in kept) / n
        r = sum(s["per_wheel"][name]["recall"] for s in kept) / n
        per_wheel[name] = {"precision": p, "recall": r, "f": _f(p, r)}
    f = {lv: _f(mean["precision"][lv], mean["recall"][lv]) for lv in ("base", "synonym")}
    f["wheel"] = sum(w["f"] for w in per_wheel.values()) / len(per_wheel)
    unknown = Counter(w for s in kept for w in s["unknown"])
    unplaced = {name: sorted({g for s in kept for g in s["unplaced"][name]}) for name in wheels}
    return OVScores(n, mean["precision"], mean["recall"], f, per_wheel, dict(unknown.most_common()),
                    sum(len(s["negated"]) for s in kept), unplaced)  # fmt: skip


def ov_scores(preds: Sequence[Labels], refs: Sequence[Labels], lexicon: Lexicon | None = None) -> OVScores | None:
    """OV-MER-style set scores of predicted emotion words against reference words (formula: module docstring).

    Sample 1 ("joyful, excited" vs "happy"): base 0/0; synonym P 1/2, R 1; each wheel P 1/2, R 1.
    Sample 2 ("angry" vs "annoyed, frustrated"): base and synonym 0/0; each wheel P 1, R 1 (all in anger).
    Synonym: P = 0.25, R = 0.5, F = 2*0.25*0.5/0.75 = 1/3. Wheel: P = 0.75, R = 1, F = 6/7 on both wheels.

    >>> s = ov_scores(["joyful, excited", "angry"], ["happy", ["annoyed", "frustrated"]])
    >>> s.precision["synonym"], s.recall["synonym"], round(s.f["synonym"], 4), round(s.f["wheel"], 4)
    (0.25, 0.5, 0.3333, 0.8571)
    >>> ov_scores([""], ["sad"]).f["wheel"], ov_scores(["sad"], [None])
    (0.0, None)
    """
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} references")
    lexicon = lexicon or load_lexicon()
    return ov_from_samples([sample_scores(p, r, lexicon) for p, r in zip(preds, refs, strict=True)])
