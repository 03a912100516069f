"""Label normalisation: synonyms, compounds, and the adversarial cases (no substring matching, negation)."""

from __future__ import annotations

import pytest

from emoreason.data_builders.registry import DATASET_LABEL_MAPS
from emoreason.labels import (
    BASIC_LABELS,
    CANONICAL_LABELS,
    COMPOUND_LABELS,
    EXTENDED_LABELS,
    SYNONYMS,
    components,
    compound_label,
    is_canonical,
    labels_for,
    normalize_label,
    normalize_labels,
    valence,
)


def test_the_canonical_vocabulary() -> None:
    assert BASIC_LABELS == ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt")
    assert len(COMPOUND_LABELS) == 11 and len(CANONICAL_LABELS) == 19
    for name, (a, b) in COMPOUND_LABELS.items():
        assert a in BASIC_LABELS and b in BASIC_LABELS and a != b
        assert compound_label(b, a) == name and components(name) == (a, b)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("happy", "happiness"),
        ("Happy!", "happiness"),
        ("  JOY ", "happiness"),
        ("angry", "anger"),
        ("scared", "fear"),
        ("Surprised.", "surprise"),
        ("disgusted", "disgust"),
        ("contemptuous", "contempt"),
        ("neutral", "neutral"),
        ("The person looks sad", "sadness"),
        ("unhappy", "sadness"),  # a word of its own, not "happy" inside it
        ("not happy", None),
        ("isn't angry", None),
        ("never scared", None),
        ("happy-ish", None),
        ("happyish", None),
        ("unhappily", None),
        ("sadder", None),
        ("madness", None),  # "mad" is anger, "madness" is not
        ("feardom", None),
        ("", None),
        (None, None),
        ("banana", None),
        ("happily surprised", "happily surprised"),
        ("Happily-Surprised", "happily surprised"),
        ("surprised and happy", "happily surprised"),
        ("happy surprise", "happily surprised"),
        ("sadly angry", "sadly angry"),
        ("angry and disgusted", "angrily disgusted"),
        ("happy and sad", None),  # no such RAF-DB compound
        ("happy and happy", None),
    ],
)
def test_normalize_label(text: str | None, label: str | None) -> None:
    assert normalize_label(text) == label


def test_label_sets() -> None:
    assert normalize_label("happily surprised", "basic") is None
    assert normalize_label("anxious", "open") == "anxiety"
    assert normalize_label("anxious", "compound") is None
    assert labels_for("basic") == BASIC_LABELS and labels_for("open") == CANONICAL_LABELS


def test_normalize_labels_splits_lists_but_keeps_compounds() -> None:
    assert normalize_labels("happy, surprised; scared") == ["happiness", "surprise", "fear"]
    assert normalize_labels("happily surprised") == ["happily surprised"]
    assert normalize_labels("sad / not angry / bored") == ["sadness", "boredom"]
    assert normalize_labels("") == [] and normalize_labels(None) == []


def test_every_synonym_and_dataset_map_lands_on_a_known_label() -> None:
    assert set(SYNONYMS.values()) <= set(BASIC_LABELS)
    for name, mapping in DATASET_LABEL_MAPS.items():
        for label in mapping.values():
            assert label in CANONICAL_LABELS or label in EXTENDED_LABELS, (name, label)


def test_valence() -> None:
    assert valence("happiness") == 1 and valence("sadness") == -1 and valence("neutral") == 0
    assert all(valence(label) in (-1, 0, 1) for label in CANONICAL_LABELS)
    assert is_canonical("sadly angry") and not is_canonical("anxiety") and not is_canonical(None)
    with pytest.raises(KeyError):
        valence("banana")


def test_the_label_set_names_are_spelled_once() -> None:
    """labels.LABEL_SETS (from the LabelSet type) is the one list: CLI, API, prompts and training read it."""
    import re
    from pathlib import Path

    from emoreason.labels import LABEL_SETS

    assert LABEL_SETS == ("basic", "compound", "open")
    root = Path(__file__).resolve().parents[1]
    spelled = re.compile(r"""["']basic["'],\s*["']compound["'],\s*["']open["']""")
    copies = [
        str(p.relative_to(root))
        for folder in ("emoreason", "eval", "data_builders")
        for p in (root / folder).rglob("*.py")
        if spelled.search(p.read_text(encoding="utf-8"))
    ]
    assert copies == ["emoreason/labels.py"]
