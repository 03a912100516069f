"""The open-vocabulary emotion-set metric (eval/ov.py) against hand-computed values, and its shipped lexicon.

The hand-computed set covers synonyms, wheel grouping (intensities and dyads), an unknown word, an empty prediction
and the averaged-precision/recall-then-F rule, on a case where the mean of per-sample F differs.
"""

from __future__ import annotations

import json
from importlib import resources

import pytest

from emoreason.eval.ov import LEVELS, load_lexicon, map_emotions, ov_scores, sample_scores
from emoreason.labels import _EXTENDED_FORMS, COMPOUND_LABELS, EXTENDED_LABELS, SYNONYMS

# (prediction, reference, {level: (precision, recall)}) worked by hand; the wheel column holds (plutchik, gew).
HAND = [
    # synonyms: joy and happiness are one group, but two base forms
    ("joyful", "happy", {"base": (0, 0), "synonym": (1, 1), "wheel": ((1, 1), (1, 1))}),
    # wheel grouping: annoyance is Plutchik's mild anger and in GEW's Anger family; rage is Plutchik's intense anger
    ("annoyed", "furious", {"base": (0, 0), "synonym": (0, 0), "wheel": ((1, 1), (1, 1))}),
    # a dyad maps to both primaries (Plutchik: love = joy + trust); GEW has a Love family
    ("loving", "happy", {"base": (0, 0), "synonym": (0, 0), "wheel": ((1 / 2, 1), (0, 0))}),
    # an unknown word is kept as itself: it costs precision and is reported
    ("sad, zorgish", "sorrowful", {"base": (0, 0), "synonym": (1 / 2, 1), "wheel": ((1 / 2, 1), (1 / 2, 1))}),
    # an empty prediction scores 0
    ("", "angry", {"base": (0, 0), "synonym": (0, 0), "wheel": ((0, 0), (0, 0))}),
    # a compound is its two words; surprise has no GEW 3.0 family, so it matches only itself there
    ("happily surprised", "surprise", {"base": (1 / 2, 1), "synonym": (1 / 2, 1), "wheel": ((1 / 2, 1), (1 / 2, 1))}),
]


@pytest.mark.parametrize(("pred", "ref", "expected"), HAND)
def test_each_sample_matches_the_hand_computed_values(pred: str, ref: str, expected: dict) -> None:
    s = sample_scores(pred, ref)
    assert s is not None
    for level in ("base", "synonym"):
        assert (s["precision"][level], s["recall"][level]) == pytest.approx(expected[level])
    (pp, pr), (gp, gr) = expected["wheel"]
    assert s["per_wheel"]["plutchik"] == pytest.approx({"precision": pp, "recall": pr})
    assert s["per_wheel"]["gew"] == pytest.approx({"precision": gp, "recall": gr})
    assert s["precision"]["wheel"] == pytest.approx((pp + gp) / 2) and s["recall"]["wheel"] == pytest.approx(
        (pr + gr) / 2
    )


def test_corpus_f_comes_from_the_averaged_precision_and_recall() -> None:
    scores = ov_scores([h[0] for h in HAND], [h[1] for h in HAND])
    assert scores is not None and scores.n == len(HAND)
    # synonym level by hand: P = (1 + 0 + 0 + 1/2 + 0 + 1/2) / 6 = 1/3, R = (1 + 0 + 0 + 1 + 0 + 1) / 6 = 1/2
    assert scores.precision["synonym"] == pytest.approx(1 / 3) and scores.recall["synonym"] == pytest.approx(1 / 2)
    assert scores.f["synonym"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))  # 0.4
    per_sample_f = [1, 0, 0, 2 / 3, 0, 2 / 3]  # 2PR/(P+R) of each sample
    assert sum(per_sample_f) / 6 == pytest.approx(7 / 18)  # 0.389: the mean of per-sample F is a different number
    assert scores.f["synonym"] != pytest.approx(sum(per_sample_f) / 6)
    # wheel level: F per wheel from that wheel's averages, then the mean over the two wheels
    plutchik_p, plutchik_r = (1 + 1 + 1 / 2 + 1 / 2 + 0 + 1 / 2) / 6, (1 + 1 + 1 + 1 + 0 + 1) / 6
    gew_p, gew_r = (1 + 1 + 0 + 1 / 2 + 0 + 1 / 2) / 6, (1 + 1 + 0 + 1 + 0 + 1) / 6
    f = [2 * p * r / (p + r) for p, r in ((plutchik_p, plutchik_r), (gew_p, gew_r))]
    assert scores.per_wheel["plutchik"]["f"] == pytest.approx(f[0]) and scores.f["wheel"] == pytest.approx(sum(f) / 2)
    assert scores.unknown == {"zorgish": 1}
    assert scores.unplaced["gew"] == ["surprise"]


def test_not_applicable_and_negation() -> None:
    assert ov_scores(["happy"], [None]) is None and ov_scores([], []) is None
    s = sample_scores("not happy, sad", "sad")
    assert s is not None and s["negated"] == ["not happy"] and s["precision"]["base"] == 1.0
    assert map_emotions("no emotion").synonym == {"neutral"}  # a known phrase is not a negation
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        ov_scores(["a", "b"], ["a"])


def test_every_word_of_the_label_vocabulary_is_in_the_lexicon() -> None:
    lexicon = load_lexicon()
    words = [*SYNONYMS, *EXTENDED_LABELS, *(f for forms in _EXTENDED_FORMS.values() for f in forms), *COMPOUND_LABELS]
    assert [w for w in words if not lexicon.knows(w)] == []


def test_the_lexicon_is_package_data_with_its_sources_and_plutchik_intensities() -> None:
    data = json.loads(resources.files("emoreason.eval").joinpath("emotion_wheels.json").read_text())
    assert "Plutchik" in data["sources"]["plutchik"] and "Scherer" in data["sources"]["gew"]
    assert set(data["wheels"]) == {"plutchik", "gew"} and len(data["wheels"]["gew"]["families"]) == 20
    lexicon = load_lexicon()
    assert lexicon.intensity["serenity"] == ("joy", 1) and lexicon.intensity["rage"] == ("anger", 3)
    for word, (sector, _) in lexicon.intensity.items():  # each intensity word sits in its sector
        assert sector in lexicon.wheels["plutchik"][lexicon.group[word]]
    groups = set(data["synonyms"])
    for wheel in data["wheels"].values():
        assert set(wheel["sectors"]) <= groups and set(wheel["assigned"]) <= groups
        assert not set(wheel["sectors"]) & set(wheel["assigned"])  # a placement is the source's or ours, not both
    bases = [b for members in data["synonyms"].values() for b in members]
    assert len(bases) == len(set(bases))  # one group per base form
    assert all(base in set(bases) for base in data["words"].values())


def test_levels_are_nested() -> None:
    """Matching at a finer level implies matching at every coarser one (on these words)."""
    for pred, ref, _ in HAND:
        s = sample_scores(pred, ref)
        assert s is not None
        values = [s["recall"][level] for level in LEVELS]
        assert values == sorted(values)
