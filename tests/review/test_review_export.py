"""What a review writes: the reviewed dataset and the pairs (both load with datasets.load_dataset), and the card."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from emoreason.errors import EmoreasonError
from emoreason.review.export import export_review, outcome
from emoreason.review.store import ReviewStore


def _decide(dataset: Path) -> list[str]:
    store = ReviewStore(dataset)
    ids = [e.id for e in store.rows.entries]
    store.decide("alice", ids[0], "accept")
    assert store.rows.row(ids[1])["label"] != "anger"
    store.decide("alice", ids[1], "correct", label="anger")
    store.decide("alice", ids[2], "reject")
    store.decide("alice", ids[3], "accept")
    store.decide("bob", ids[3], "correct", label="fear")  # disputed
    store.decide("bob", ids[1], "correct", label="angry")  # agrees with alice: counted once
    other = "anger" if store.rows.row(ids[-1])["label"] != "anger" else "fear"
    store.decide("alice", ids[-1], "correct", label=other)  # a test-split row
    return ids


def test_export_writes_both_outputs_loadable_with_load_dataset(dataset: Path, tmp_path: Path) -> None:
    from datasets import load_dataset, load_from_disk

    ids = _decide(dataset)
    summary = export_review(dataset, tmp_path / "out")
    assert summary.counts == {"accepted": 1, "corrected": 2, "rejected": 1, "disputed": 1}
    reviewed = load_dataset(str(tmp_path / "out" / "reviewed"))
    assert sorted(reviewed) == ["test", "train"]
    assert reviewed["train"]["id"] == [i.split(":", 1)[1] for i in ids[:2]]  # the toy splits reuse ids
    fixed = load_from_disk(str(tmp_path / "out" / "reviewed"))["train"][1]  # what `train sft` reads
    assert fixed["label"] == "anger" and fixed["cot"].endswith("<answer>anger</answer>")
    review = fixed["meta"]["review"]
    assert review["status"] == "corrected" and review["reviewers"] == ["alice", "bob"] and review["at"]
    assert review["original_label"] != "anger"
    pairs = load_dataset(str(tmp_path / "out" / "pairs"))
    assert pairs["train"].num_rows == 1 and pairs["test"].num_rows == 1
    pair = pairs["train"][0]
    assert set(pair) >= {"prompt", "chosen", "rejected", "images"}
    assert pair["chosen"][0]["role"] == "assistant"
    assert "<answer>anger</answer>" in pair["chosen"][0]["content"][0]["text"]
    assert pair["images"][0].size  # embedded: a PIL image
    card = (tmp_path / "out" / "reviewed" / "README.md").read_text()
    assert "| corrected | 2 |" in card and "Cohen's kappa" in card and "alice / bob" in card


def test_rows_whose_media_are_gone_are_left_out_and_named(dataset: Path, tmp_path: Path) -> None:
    ids = _decide(dataset)
    row = ReviewStore(dataset).rows.row(ids[0])
    shutil.move(row["images"][0], tmp_path / "moved.png")
    try:
        summary = export_review(dataset, tmp_path / "out")
    finally:
        shutil.move(tmp_path / "moved.png", row["images"][0])
    assert summary.media_gone == [ids[0]]
    assert any("images are gone" in line for line in summary.lines())


def test_nothing_reviewed_is_an_error(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(EmoreasonError, match="no row .* has been reviewed"):
        export_review(dataset, tmp_path / "out")


def test_outcome_rules() -> None:
    def d(reviewer: str, action: str, label: str | None, at: str = "t") -> dict:
        return {"reviewer": reviewer, "action": action, "label": label, "cot": "c" if action == "correct" else None,
                "at": at}

    assert outcome([d("a", "accept", "anger")]).status == "accepted"
    assert outcome([d("a", "reject", None), d("b", "reject", None)]).status == "rejected"
    assert outcome([d("a", "accept", "anger"), d("b", "reject", None)]).status == "disputed"
    assert outcome([d("a", "correct", "fear"), d("b", "correct", "fear")]).status == "corrected"
