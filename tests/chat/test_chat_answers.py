"""`emoreason chat` on the rules backend answers the question asked: why, which AUs, which face, how sure, when,
what was said; every face of a photo is attached, and a photo with more faces than the cap says so."""

from __future__ import annotations

import doctest
from pathlib import Path

from typer.testing import CliRunner

from emoreason.chat import answers as chat_answers
from emoreason.cli import app

runner = CliRunner()


def _replies(lines: list[str]) -> list[str]:
    """Run the REPL on ``lines`` (the first attaches); the output of each later line, in order."""
    from emoreason.chat.session import ChatSession
    from emoreason.reasoning.rules import RuleReasoner

    out: list[list[str]] = []
    session = ChatSession(RuleReasoner(), write=lambda text: out[-1].append(text))
    for line in lines:
        out.append([])
        session.handle(line)
    return ["\n".join(block) for block in out]


def test_the_examples_in_the_docstrings() -> None:
    result = doctest.testmod(chat_answers)
    assert result.attempted > 0 and result.failed == 0


def _reading(photo: Path) -> list[tuple[str, list[str]]]:
    """(label, AU keys present, strongest first) per face, as the rule engine reads ``photo``."""
    from emoreason import facs
    from emoreason.pipelines.image import face_evidence, perceive_image
    from emoreason.reasoning.rules import RuleReasoner

    evidence = [face_evidence(photo, i, face, "compound") for i, face in enumerate(perceive_image(photo))]
    readings = RuleReasoner().reason(evidence)
    return [(r.label, [k for k, _ in facs.active_aus(ev.aus)]) for ev, r in zip(evidence, readings, strict=True)]


def test_why_which_aus_and_face_2_get_different_correct_answers(five_faces: Path) -> None:
    faces = _reading(five_faces)
    (label1, aus1), (label2, aus2) = faces[:2]
    script = f"/image {five_faces}\nWhy?\nWhich AUs?\nWhat about face 2?\n/quit\n"
    result = runner.invoke(app, ["chat"], input=script)
    assert result.exit_code == 0, result.output
    out = result.stdout
    why = out[out.index(f"five.jpg, face 1: {label1}, because") : out.index(f"five.jpg, face 1: {aus1[0]} ")]
    aus = out[out.index(f"five.jpg, face 1: {aus1[0]} ") : out.index(f"five.jpg, face 2: {label2}\n")]
    face2 = out[out.index(f"five.jpg, face 2: {label2}\n") :]
    assert why.count(", because") == 5 and f"part of the {label1} pattern" in why  # each face's own evidence
    assert "because" not in aus and aus.count("five.jpg, face") == 5  # the AUs, only
    assert all(f"face {i}: {faces[i - 1][1][0]} " in aus for i in range(1, 6))
    assert face2.count("five.jpg, face") == 1 and "Key observations:" in face2  # face 2 alone, its full analysis
    assert all(key in face2 for key in aus2) and f"best described as {label2}." in face2


def test_each_question_kind_answers_only_what_it_asks(face_photo: Path) -> None:
    attach, why, aus, label = _replies([f"/image {face_photo}", "why?", "which AUs?", "what emotion is this?"])
    assert attach.startswith(f"Attached {face_photo}: ") and "AU12" in attach
    assert why.startswith("astronaut.jpg: happiness, because ") and "Key observations" not in why
    assert aus.startswith("astronaut.jpg: AU") and "AU12" in aus and "because" not in aus and "happiness" not in aus
    assert "Key observations:" in label and "Conclusion:" in label
    assert len({why, aus, label}) == 3


def test_a_question_that_asks_two_things_gets_both_answers(five_faces: Path) -> None:
    _, both, count = _replies([f"/image {five_faces}", "How many faces are there, and how do they feel?",
                               "how many faces?"])  # fmt: skip
    assert count.startswith(f"{five_faces.name} has 5 faces") and "happiness" not in count
    assert both.startswith(count)
    assert [f"face {n}:" in both for n in range(1, 6)] == [True] * 5 and "happiness" in both  # each face's label


def test_face_2_of_five_and_the_focus_stays_on_it(five_faces: Path) -> None:
    reading = _reading(five_faces)
    (label2, aus2), faces_labels = reading[1], [label for label, _ in reading]
    questions = [
        "How do they feel?",
        "What about face 2?",
        "Why?",
        "Which AUs?",
        "all faces: which AUs?",
        "and face 9?",
    ]
    attach, overview, face2, why, aus, everyone, missing = _replies([f"/image {five_faces}", *questions])
    assert attach.count("Face ") == 5 and "Face 5:" in attach  # every face attached, none dropped
    assert [line.split(":")[0] for line in overview.splitlines()[:5]] == [f"five.jpg, face {i}" for i in range(1, 6)]
    assert face2.startswith(f"five.jpg, face 2: {label2}\n") and "face 1" not in face2
    assert "Key observations:" in face2
    assert why.startswith(f"five.jpg, face 2: {label2}, because") and "face 3" not in why
    assert aus.startswith(f"five.jpg, face 2: {aus2[0]} ") and aus.count("five.jpg") == 1
    assert everyone.count("five.jpg, face") == 5
    assert missing.startswith("There is no face 9 in five.jpg: it has 5 faces, face 1 (")  # the faces there are
    assert all(f"face {i} ({faces_labels[i - 1]})" in missing for i in range(1, 6)) and "\n" not in missing


def test_more_faces_than_the_cap_are_said_not_dropped(five_faces: Path) -> None:
    from emoreason.chat.session import ChatSession
    from emoreason.reasoning.rules import RuleReasoner

    said: list[str] = []
    session = ChatSession(RuleReasoner(), write=said.append, max_faces=4)
    session.attach_image(str(five_faces))
    assert "more than 4 faces found; the first 4 are attached" in said[0] and len(session.evidence) == 4


def test_video_questions_about_time_speech_and_change(tmp_path: Path) -> None:
    from emoreason.chat.session import ChatSession
    from emoreason.reasoning.rules import RuleReasoner
    from emoreason.schema import Evidence

    evidence = [
        Evidence(id="c#0", aus={"AU12": 3.0, "AU6": 2.0}, track=0, start=0.0, end=4.0, transcript="what a day"),
        Evidence(
            id="c#1",
            aus={"AU1": 3.0, "AU2": 3.0, "AU5": 3.0, "AU26": 3.0},
            track=0,
            start=4.0,
            end=8.0,
            au_changes="AU26 jaw drop rises from 0.2 to 3.0",
        ),
    ]
    said: list[str] = []
    session = ChatSession(RuleReasoner(), write=said.append)
    session.attach_video_evidence(evidence, "clip.mp4")
    assert said[-1] == "Attached clip.mp4: 1 face track, 2 windows over 8.0 s, with speech."
    at5 = session.ask("What happens at 5 s?")
    assert "4.0-8.0 s" in at5 and "0.0-4.0" not in at5 and "surprise" in at5
    sure = session.ask("How sure are you?")  # still about 5 s
    assert "4.0-8.0 s: surprise, probability" in sure and "0.0-4.0" not in sure
    timeline = session.ask("What changed over time?")
    assert "happiness 0.0-4.0 s -> surprise 4.0-8.0 s" in timeline and "at 4.0 s happiness -> surprise" in timeline
    assert session.ask("What did they say?") == 'What was said:\n  0.0-4.0 s: "what a day"'
