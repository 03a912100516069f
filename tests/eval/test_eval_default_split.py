"""Issue 27 item 3: `eval --dataset` without --split scores a dataset's only split (and says so)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest


def _rows() -> list[dict]:
    aus = [{"AU6": 2.5, "AU12": 3.2}, {"AU1": 2.0, "AU15": 2.5, "AU4": 1.2}] * 4
    cot = "<think>Conclusion: happiness.</think><answer>happiness</answer>"
    return [{"id": f"m{i}", "images": [], "aus": a, "transcript": "", "prosody": "", "label": "happiness",
             "labels": ["happiness"], "cot": cot, "meta": {"source": "manifest", "split": "train"}}
            for i, a in enumerate(aus)]  # fmt: skip


def test_eval_scores_the_only_split_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A manifest without a split column builds only 'train'; `eval --dataset` said "has no split 'test'"."""
    from datasets import Dataset, DatasetDict

    from emoreason.eval.runner import EvalConfig, evaluate

    rows = _rows()
    path = tmp_path / "mine"
    DatasetDict({"train": Dataset.from_list(rows)}).save_to_disk(str(path))
    with caplog.at_level(logging.WARNING, logger="emoreason.eval.runner"):
        metrics = evaluate(EvalConfig(out=tmp_path / "out", dataset=path, backend="rules", n_bootstrap=0))
    assert metrics["n_samples"] == 8
    assert any("has no split 'test': scoring its one split 'train' (8 rows)" in r.getMessage() for r in caplog.records)
    two = tmp_path / "two"
    DatasetDict({"train": Dataset.from_list(rows), "dev": Dataset.from_list(rows)}).save_to_disk(str(two))
    from emoreason.errors import EmoreasonError

    with pytest.raises(EmoreasonError, match="has no split 'test'; it has: train, dev; choose one with --split"):
        evaluate(EvalConfig(out=tmp_path / "out2", dataset=two, backend="rules", n_bootstrap=0))
