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
    reviewed = load_dataset(str(tmp_path / "out" / "reviewed"), cache_dir=str(tmp_path / "hf"))
    assert sorted(reviewed) == ["test", "train"]
    assert reviewed["train"]["id"] == [i.split(":", 1)[1] for i in ids[:2]]  # the toy splits reuse ids
    fixed = load_from_disk(str(tmp_path / "out" / "reviewed"))["train"][1]  # what `train sft` reads
    assert fixed["label"] == "anger" and fixed["cot"].endswith("<answer>anger</answer>")
    review = fixed["meta"]["review"]
    assert review["status"] == "corrected" and review["reviewers"] == ["alice", "bob"] and review["at"]
    assert review["original_label"] != "anger"
    pairs = load_dataset(str(tmp_path / "out" / "pairs"), cache_dir=str(tmp_path / "hf"))
    assert pairs["train"].num_rows == 1 and pairs["test"].num_rows == 1
    pair = pairs["train"][0]
    assert set(pair) >= {"prompt", "chosen", "rejected", "images"}
    assert pair["chosen"][0]["role"] == "assistant"
    assert "<answer>anger</answer>" in pair["chosen"][0]["content"][0]["text"]
    assert pair["images"][0].size  # embedded: a PIL image
    card = (tmp_path / "out" / "reviewed" / "README.md").read_text()
    assert "| corrected | 2 |" in card and "Cohen's kappa" in card and "alice / bob" in card


def _sparse_dataset(folder: Path, images: Path, filled_from: int) -> Path:
    """A generated build-data dataset whose optional fields (an AU, the face model's probabilities, the subject)
    are empty in the rows before ``filled_from`` and filled after, saved and carded as build-data does."""
    from PIL import Image

    from emoreason.data_builders.card import TAGS
    from emoreason.data_builders.work import card_header, save_dataset

    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(6):
        path = images / f"{i}.png"
        Image.new("RGB", (8, 8), (40 * i, 90, 200)).save(path)
        filled = i >= filled_from
        rows.append({
            "id": f"r{i}", "images": [str(path)], "aus": {"AU6": 2.0, "AU12": 3.0 + i, "AU4": 1.5 if filled else None},
            "label": "happiness", "labels": ["happiness"], "cot": "<think>x</think><answer>happiness</answer>",
            "meta": {"split": "train", "subject": f"s{i}" if filled else None,
                     "expression": {"happiness": 0.9, "sadness": 0.1} if filled else None},
        })  # fmt: skip
    folder.mkdir(parents=True)
    save_dataset(folder, {"train": rows})
    (folder / "README.md").write_text(card_header(folder, TAGS))
    return folder


def test_outputs_keep_the_source_schema_and_load_dataset_reads_each_export(tmp_path: Path) -> None:
    """Regression: optional fields empty in the reviewed rows were typed null, and load_dataset keys its cache by
    the folder's name and card, so a second export named ``reviewed`` came back as the first one (or failed with
    "Couldn't cast array of type double to null" when reloaded)."""
    from datasets import load_dataset

    cache = str(tmp_path / "hf")  # one cache for every load, as a user's ~/.cache is
    first = _sparse_dataset(tmp_path / "a", tmp_path / "img", filled_from=3)
    assert load_dataset(str(first), cache_dir=cache)["train"]["id"] == [f"r{i}" for i in range(6)]  # build-data's
    store = ReviewStore(first)
    for rid in ("r0", "r1"):  # only rows whose optional fields are empty
        store.decide("alice", rid, "accept")
    export_review(first, tmp_path / "out1")
    one = load_dataset(str(tmp_path / "out1" / "reviewed"), cache_dir=cache)["train"]
    assert one["id"] == ["r0", "r1"]
    assert one.features["aus"]["AU4"].dtype == "float64" and one.features["meta"]["subject"].dtype == "string"
    assert one.features["meta"]["expression"]["happiness"].dtype == "float64"

    second = _sparse_dataset(tmp_path / "b", tmp_path / "img", filled_from=0)
    store = ReviewStore(second)
    for rid in ("r2", "r3", "r4"):
        store.decide("bob", rid, "accept")
    export_review(second, tmp_path / "out2")
    two = load_dataset(str(tmp_path / "out2" / "reviewed"), cache_dir=cache)["train"]
    assert two["id"] == ["r2", "r3", "r4"] and two[0]["aus"]["AU4"] == 1.5
    again = load_dataset(str(tmp_path / "out2" / "reviewed"), cache_dir=cache, download_mode="force_redownload")
    assert again["train"]["id"] == ["r2", "r3", "r4"]


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
