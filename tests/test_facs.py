"""The FACS AU table, intensity letters, AU keys and the one AU-to-text function."""

from __future__ import annotations

import pytest

from emoreason import facs
from emoreason.labels import CANONICAL_LABELS

REQUIRED_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 18, 20, 22, 23, 24, 25, 26, 27, 28, 43, 45)


@pytest.mark.parametrize("number", REQUIRED_AUS)
def test_au_table_is_complete(number: int) -> None:
    au = facs.AU_TABLE[number]
    assert au.number == number
    assert au.name and au.muscle and au.description
    assert au.region in {"brow", "eyes", "nose", "cheeks", "mouth", "jaw", "lids"}


def test_well_known_names() -> None:
    assert facs.au_name(12) == "lip corner puller" and facs.au_name(6) == "cheek raiser"
    assert facs.au_name(4) == "brow lowerer" and facs.au_name(14) == "dimpler"
    assert facs.au_name(99) == "action unit 99"


@pytest.mark.parametrize(
    ("value", "letter", "word"),
    [
        (0.0, None, "absent"),
        (0.49, None, "absent"),
        (0.5, "A", "trace"),
        (1.0, "A", "trace"),
        (2.0, "B", "slight"),
        (3.1, "C", "marked"),
        (4.0, "D", "severe"),
        (5.0, "E", "maximum"),
        (7.0, "E", "maximum"),
    ],
)
def test_intensity_letters(value: float, letter: str | None, word: str) -> None:
    assert facs.intensity_letter(value) == letter
    assert facs.intensity_word(value) == word


def test_au_keys_round_trip() -> None:
    assert facs.au_key(12) == "AU12" and facs.au_key(14, "L") == "AU14L"
    for key, parsed in [
        ("AU12", (12, None)),
        ("au 12", (12, None)),
        ("AU01", (1, None)),
        ("AU12_r", (12, None)),
        ("AU14L", (14, "L")),
        ("AU14r", (14, "R")),
        (6, (6, None)),
    ]:
        assert facs.parse_au_key(key) == parsed
    with pytest.raises(ValueError):
        facs.parse_au_key("smile")
    assert facs.coerce_aus({"au 12": 3, "AU6": None, 4: 1.5}) == {"AU12": 3.0, "AU4": 1.5}
    assert facs.coerce_aus('[["AU1", 2]]') == {"AU1": 2.0} and facs.coerce_aus(None) == {}


def test_au_text() -> None:
    assert (
        facs.au_text({"AU6": 2.4, "AU12": 3.2, "AU4": 0.2})
        == "AU12 lip corner puller (marked); AU6 cheek raiser (slight)"
    )
    assert "neutral" in facs.au_text({}) and "neutral" in facs.au_text({"AU4": 0.3})
    # Symmetric sides merge; asymmetric ones (contempt's one-sided dimpler) stay apart.
    assert facs.au_text({"AU12L": 3.0, "AU12R": 3.2}) == "AU12 lip corner puller (marked)"
    assert facs.au_text({"AU14L": 3.0, "AU14R": 0.0}) == "AU14L dimpler (marked, left side)"
    described = facs.au_text({"AU9": 2.0}, with_description=True)
    assert described.startswith("AU9 nose wrinkler (slight): ") and "nose" in described.split(":")[1]
    assert facs.au_phrase("AU14R", 2.2) == "AU14R dimpler (slight, right side)"


def test_au_change_text_and_helpers() -> None:
    assert facs.au_change_text({"AU12": 0.4}, {"AU12": 3.1}) == "AU12 lip corner puller rises from 0.4 to 3.1"
    assert facs.au_change_text({"AU12": 1.0}, {"AU12": 1.5}) == ""
    assert facs.bilateral({"AU12L": 1.0, "AU12R": 3.0}) == {12: 3.0}
    assert facs.asymmetry({"AU14L": 3.0, "AU14R": 0.5}, 14) == 2.5 and facs.asymmetry({"AU14": 3.0}, 14) == 0.0
    assert facs.present({"AU1": 0.9, "AU2L": 1.0}) == {2}


def test_prototypes_use_table_aus_and_cover_every_emotion() -> None:
    assert set(facs.PROTOTYPES) == set(CANONICAL_LABELS) - {"neutral"}
    for label, proto in facs.PROTOTYPES.items():
        assert proto and set(proto) <= set(facs.AU_TABLE), label
        assert max(proto.values()) == 1.0
    assert facs.PROTOTYPES["happiness"][12] == 1.0 and facs.PROTOTYPES["happiness"][6] == 1.0
    assert 14 in facs.CONTEMPT_UNILATERAL


def test_rule_engine_and_consistency_metric_share_one_pattern_per_label() -> None:
    """The AUs the rule engine's CoT calls support for a label are exactly the AUs the consistency metric counts as
    explained by it (one definition, ``facs.prototype_aus``): a second copy that drifted would fail here."""
    from emoreason.reasoning.cues import label_cues

    for label in facs.PROTOTYPES:
        pattern = facs.prototype_aus(label)
        aus = {facs.au_key(n): 3.0 for n in sorted(pattern)} | {"AU45": 3.0}  # AU45 (blink) is in no prototype
        cues = label_cues(label, aus)
        assert {facs.parse_au_key(k)[0] for k in cues.seen} == pattern, label
        assert cues.unexplained == ["AU45"], label
