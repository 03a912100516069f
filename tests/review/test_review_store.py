"""The review store: decisions saved as they are made, per reviewer, checked, never counted twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emoreason.errors import EmoreasonError
from emoreason.review.store import Conflict, ReviewStore


def test_decisions_survive_a_restart_and_the_latest_counts(dataset: Path) -> None:
    store = ReviewStore(dataset)
    first, second = store.rows.entries[0].id, store.rows.entries[1].id
    store.decide("alice", first, "accept", base_rev=0)
    store.decide("alice", first, "correct", label="surprised", base_rev=1)  # back, then changed
    store.decide("alice", second, "reject", base_rev=0)
    again = ReviewStore(dataset)  # a server restart
    mine = again.decisions("alice")["alice"]
    assert set(mine) == {first, second}
    assert mine[first]["action"] == "correct" and mine[first]["label"] == "surprise" and mine[first]["rev"] == 2
    assert "<answer>surprise</answer>" in mine[first]["cot"]  # a CoT written for the corrected label


def test_two_reviewers_write_their_own_logs(dataset: Path) -> None:
    store = ReviewStore(dataset)
    rid = store.rows.entries[0].id
    store.decide("key-aaa", rid, "accept")
    ReviewStore(dataset).decide("key-bbb", rid, "reject")  # another process, same row
    store.refresh()
    assert {r: d[rid]["action"] for r, d in store.decisions().items()} == {"key-aaa": "accept", "key-bbb": "reject"}
    assert sorted(p.name for p in (dataset / ".review").glob("*.jsonl")) == ["key-aaa.jsonl", "key-bbb.jsonl"]


def test_a_row_changed_in_another_tab_is_not_overwritten(dataset: Path) -> None:
    store = ReviewStore(dataset)
    rid = store.rows.entries[0].id
    store.decide("alice", rid, "accept", base_rev=0)  # tab 1
    with pytest.raises(Conflict, match="another tab"):
        store.decide("alice", rid, "reject", base_rev=0)  # tab 2 still shows the row undecided
    assert store.decision("alice", rid)["action"] == "accept"


@pytest.mark.parametrize(
    ("label", "cot", "message"),
    [
        (None, "   ", "the CoT is empty"),
        ("hungry", None, "not a label in the compound label set"),
        (None, "<think>Key observations: x</think><answer>hungry</answer>", "answers 'hungry'"),
        (None, "I think she is happy", "no <answer>"),
        ("anger", "<think>Conclusion: happy.</think><answer>happiness</answer>", "make them agree"),
        (None, None, "needs a label or a CoT"),
    ],
)
def test_bad_corrections_say_what_to_fix(dataset: Path, label: str | None, cot: str | None, message: str) -> None:
    store = ReviewStore(dataset)
    with pytest.raises(EmoreasonError, match=message):
        store.decide("alice", store.rows.entries[0].id, "correct", label=label, cot=cot)
    assert not store.decisions("alice")  # nothing saved


def test_a_torn_last_line_is_dropped_and_the_rest_kept(dataset: Path) -> None:
    store = ReviewStore(dataset)
    store.decide("alice", store.rows.entries[0].id, "accept")
    log = dataset / ".review" / "alice.jsonl"
    with open(log, "a") as fh:
        fh.write('{"id": "alice:2", "row": "x", "act')  # the server died mid-write
    again = ReviewStore(dataset)
    assert list(again.decisions()["alice"]) == [store.rows.entries[0].id]
    assert all(json.loads(line) for line in log.read_text().splitlines())


def test_not_a_dataset_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmoreasonError, match="is not a dataset"):
        ReviewStore(tmp_path)
    with pytest.raises(EmoreasonError, match="is not a folder"):
        ReviewStore(tmp_path / "missing")


def test_reviewers_are_bounded(dataset: Path) -> None:
    store = ReviewStore(dataset, max_reviewers=2)
    rid = store.rows.entries[0].id
    store.decide("a", rid, "accept")
    store.decide("b", rid, "accept")
    with pytest.raises(EmoreasonError, match="at most 2"):
        store.decide("c", rid, "accept")


def test_a_face_read_without_landmarks_has_no_au_evidence() -> None:
    """A face the landmarker missed (read by the face model alone) has no AUs: the AU rules' reading of none is not a
    channel that disagrees, and its support is unchecked, not the weakest (seen on FER2013's 48x48 crops)."""
    from emoreason.data_builders.support import row_support
    from emoreason.review.rows import _entry

    row = {"id": "r", "aus": {"AU4": None}, "label": "anger",
           "meta": {"quality": ["no_landmarks"], "implied": "neutral", "support": 0.0, "evidence": "weak",
                    "expression": {"anger": 0.8, "sadness": 0.2}}}  # fmt: skip
    entry = _entry(0, "r", row, "train")
    assert entry.channels == {"face_model": "anger"} and not entry.disagree
    assert entry.support is None and entry.evidence == "unchecked"
    assert row_support(row).verdict == "unchecked"
    read = {**row, "aus": {"AU4": 2.0}, "meta": {**row["meta"], "quality": []}}
    assert _entry(0, "r", read, "train").channels["aus"] == "neutral"
