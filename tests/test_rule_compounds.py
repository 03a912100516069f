"""Compound labels need evidence of both component emotions (regressions found on real photographs)."""

from __future__ import annotations

import pytest

from emoreason import facs
from emoreason.labels import COMPOUND_LABELS
from emoreason.reasoning.rules import components_shown, explain, score_emotions


def top(aus: dict[str, float]) -> str:
    scores = score_emotions(aus)
    return max(scores, key=scores.get)


def test_open_mouthed_smile_without_a_cheek_raiser_is_happiness() -> None:
    # scikit-image's astronaut: AU12 and AU25, AU6 under the threshold. The shared, unspecific AU25 used to
    # make "happily disgusted" (AU10+AU12+AU25) win although nothing on the face signals disgust.
    aus = {"AU12L": 5.0, "AU12R": 5.0, "AU25": 2.94}
    assert top(aus) == "happiness"
    assert score_emotions(aus)["happily disgusted"] == 0.0


def test_frown_with_lid_tightener_is_anger_not_fearfully_angry() -> None:
    # AU4 and AU7 are signs of both fear and anger: nothing shows fear on its own.
    aus = {"AU4L": 4.0, "AU4R": 3.7, "AU7L": 2.2, "AU25": 1.7}
    assert top(aus) == "anger"
    assert score_emotions(aus)["fearfully angry"] == 0.0


def test_a_real_blend_still_reads_as_the_compound() -> None:
    assert top({"AU4": 3.0, "AU7": 2.5, "AU20": 3.0, "AU25": 3.0}) == "fearfully angry"
    assert explain({"AU1": 3.0, "AU2": 3.0, "AU12": 3.0, "AU25": 3.0}).label == "happily surprised"


# Du et al.'s "sadly angry" (AU4+AU15) and "fearfully angry" (AU4+AU20+AU25) lie wholly inside the sadness and
# fear prototypes: they read as the compound only when anger shows its own signature too.
INSIDE_ONE_COMPONENT = {"sadly angry": {"AU7": 2.5}, "fearfully angry": {"AU7": 2.5}}


@pytest.mark.parametrize("label", sorted(COMPOUND_LABELS))
def test_every_compound_prototype_shows_both_components(label: str) -> None:
    proto = set(facs.PROTOTYPES[label])
    assert components_shown(label, proto)
    aus = {facs.au_key(n): 3.0 for n in proto} | INSIDE_ONE_COMPONENT.get(label, {})
    assert top(aus) == label


def test_a_compound_inside_one_components_prototype_reads_as_that_component() -> None:
    assert top({"AU1": 3.0, "AU4": 3.0, "AU15": 3.0}) == "sadness"  # not "sadly angry"
    assert top({"AU4": 3.0, "AU15": 3.0}) == "sadness"
