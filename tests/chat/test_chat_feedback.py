"""`/wrong LABEL` in chat: the last answer and the right label are recorded as a review decision, and the export
turns it into a preference pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoreason.errors import EmoreasonError


def test_wrong_records_a_correction_the_export_pairs(face_photo: Path, tmp_path: Path) -> None:
    from datasets import load_dataset

    from emoreason.chat.session import ChatSession
    from emoreason.reasoning.rules import RuleReasoner
    from emoreason.review.export import export_review
    from emoreason.review.feedback import open_feedback

    said: list[str] = []
    session = ChatSession(RuleReasoner(), write=said.append, feedback=open_feedback(tmp_path / "feedback"))
    with pytest.raises(EmoreasonError, match="no answer to correct"):
        session.correct("anger")
    session.handle(f"/image {face_photo}")
    session.handle("What emotion is this?")
    first = session.last_items[0].reasoning.label
    right = "sadness" if first != "sadness" else "anger"
    session.handle("/wrong hungry")
    assert "not a label" in said[-1]
    session.handle(f"/wrong {right}")
    assert said[-1].startswith(f"Recorded: {right}")
    (decisions,) = session.feedback.decisions().values()
    (decision,) = decisions.values()
    assert decision["action"] == "correct" and decision["label"] == right and decision["via"] == "chat"
    summary = export_review(tmp_path / "feedback", tmp_path / "out")
    assert summary.counts["corrected"] == 1 and summary.pairs == 1
    pair = load_dataset(str(tmp_path / "out" / "pairs"), cache_dir=str(tmp_path / "hf"))["feedback"][0]
    assert pair["rejected_label"] == first and pair["label"] == right
    assert f"<answer>{right}</answer>" in pair["chosen"][0]["content"][0]["text"]
    assert pair["images"]  # the face, cut from the photo
