"""End to end: `emoreason eval` on a build-data dataset with the rules backend, on prediction files, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emoreason.cli import app
from emoreason.errors import EmoreasonError
from emoreason.eval.runner import EvalConfig, evaluate, load_predictions, load_references, predict_split
from emoreason.reasoning.rules import RuleReasoner, explain

HEADLINE = ("accuracy", "uar", "macro_f1", "au_f1", "format_rate", "consistency", "rouge_l", "tem_f1")
runner = CliRunner()


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_rules_backend_over_a_dataset_writes_every_output(toy_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = runner.invoke(app, ["eval", "--dataset", str(toy_dataset), "--split", "test", "--backend", "rules",
                                 "--out", str(out), "--bootstrap", "200"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "8 samples: accuracy 0.750" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert all(key in metrics for key in HEADLINE) and metrics["tem_f1"] is None  # no captions in this dataset
    # gold  h s c h n s a f ; rules  h s c h n h a n  (worked out in conftest.TOY_ROWS; a slight smile, AU12 2.0,
    # is happiness: one slight AU brings neutral down to 0.25)
    assert metrics["accuracy"] == 6 / 8
    assert metrics["uar"] == pytest.approx((1 + 0.5 + 1 + 1 + 1 + 0) / 6)
    assert metrics["macro_f1"] == pytest.approx((0.8 + 2 / 3 + 1 + 2 / 3 + 1 + 0) / 6)
    assert metrics["weighted_f1"] == pytest.approx(5.6 / 8)
    assert metrics["au_f1"] == 1.0 and metrics["format_rate"] == 1.0  # the rule engine cites exactly the AUs seen
    assert metrics["counts"]["with_aus"] == 7  # the fear row has no AU coding
    assert 0 < metrics["rouge_l"] < 1 and metrics["per_class"]["fear"]["recall"] == 0.0
    lo, hi = metrics["ci"]["accuracy"]
    assert lo <= 6 / 8 <= hi
    assert metrics["per_group"]["gender"]["female"]["accuracy"] == 1.0
    assert metrics["per_group"]["gender"]["male"]["accuracy"] == 0.5
    assert metrics["consistency_details"]["transcript_grounding"] == 1.0  # the rules CoT quotes the transcript
    assert metrics["coverage"]["missing_predictions"] == 0 and metrics["coverage"]["rate"] == 1.0
    samples = [json.loads(line) for line in (out / "per_sample.jsonl").read_text().splitlines()]
    assert [s["pred"] for s in samples] == ["happiness", "sadness", "contempt", "happiness", "neutral", "happiness",
                                            "anger", "neutral"]  # fmt: skip
    report = (out / "report.md").read_text()
    assert "| accuracy | 0.750 | [" in report and "95% CI" in report and "**gender**" in report
    from PIL import Image

    with Image.open(out / "confusion_matrix.png") as png:
        assert png.format == "PNG" and png.width > 400 and png.height > 300


def test_dataset_runs_resume_and_refuse_changed_settings(toy_dataset: Path, tmp_path: Path) -> None:
    config = EvalConfig(out=tmp_path, dataset=toy_dataset, split="test", n_bootstrap=0)
    first = evaluate(config)
    path = tmp_path / "predictions.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == 8
    path.write_text("\n".join(lines[:5]) + "\n" + lines[5][:20])  # three rows lost, one line cut mid-way
    again = evaluate(config)
    lines_after = path.read_text().splitlines()
    assert len(lines_after) == 8 and [json.loads(x)["id"] for x in lines_after] == [f"toy{i}" for i in range(8)]
    assert again["accuracy"] == first["accuracy"] and again["ci"]["accuracy"] is None
    with pytest.raises(EmoreasonError, match="different settings.*label_set"):
        evaluate(EvalConfig(out=tmp_path, dataset=toy_dataset, split="test", label_set="compound"))


def test_a_damaged_prediction_line_is_refused_not_cut(toy_dataset: Path, tmp_path: Path) -> None:
    config = EvalConfig(out=tmp_path, dataset=toy_dataset, split="test", n_bootstrap=0)
    evaluate(config)
    path = tmp_path / "predictions.jsonl"
    lines = path.read_text().splitlines()
    damaged = "\n".join([*lines[:3], "{oops", *lines[3:]]) + "\n"
    path.write_text(damaged)
    with pytest.raises(EmoreasonError, match=r"predictions.jsonl, line 4: .*fix or delete that line"):
        evaluate(config)
    assert path.read_text() == damaged  # the five finished rows after it are still there


class FlakyRules(RuleReasoner):
    """The rules backend, except that it fails on one sample id (a stand-in for a backend error)."""

    def reason(self, evidence):  # type: ignore[no-untyped-def]
        if any(ev.id == "toy2" for ev in evidence):
            if len(evidence) == 1:
                raise RuntimeError("backend exploded")
            raise RuntimeError("batch failed")
        return super().reason(evidence)


def test_a_failing_item_is_recorded_and_the_run_carries_on(toy_dataset: Path, tmp_path: Path) -> None:
    refs = load_references(toy_dataset, "test")
    failed = predict_split(refs, FlakyRules(), tmp_path / "p.jsonl", "compound", batch_size=4)
    assert failed == 1
    rows, _ = load_predictions(tmp_path / "p.jsonl")
    assert len(rows) == 8 and rows["toy2"]["error"] == "backend exploded" and rows["toy3"]["output"]


def test_scoring_a_predictions_file_with_captions_and_coverage_gaps(tmp_path: Path) -> None:
    happy_aus = {"AU6": 3.0, "AU12": 3.0}
    cot = explain(happy_aus, label="happiness", transcript="I am so glad").text
    refs = write_jsonl(tmp_path / "refs.jsonl", [
        {"id": "r1", "label": "happiness", "aus": happy_aus, "transcript": "I am so glad", "cot": cot,
         "caption": "She smiles, then looks surprised."},
        {"id": "r2", "label": "sadness", "aus": {"AU1": 2.0, "AU15": 2.0}, "caption": "She frowns, then looks sad."},
        {"id": "r3", "label": "happily surprised", "labels": ["happily surprised"], "aus": {}},
        {"id": "r4", "label": "angry", "aus": {"AU4": 3.0}},  # no prediction
    ])  # fmt: skip
    answer = cot.replace("happiness", "happiness")  # a well-formed output answering plain happiness
    preds = write_jsonl(tmp_path / "preds.jsonl", [
        {"id": "r1", "output": cot, "caption": "She smiles, then looks surprised."},
        {"id": "r2", "output": "garbage"},
        {"id": "r3", "output": answer},
        {"id": "x9", "output": cot},  # no reference
    ])  # fmt: skip
    out = tmp_path / "out"
    result = runner.invoke(app, ["eval", "--predictions", str(preds), "--references", str(refs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] == 0.25  # r1 right; r2 unparseable; r3 happiness != happily surprised; r4 missing
    assert metrics["uar"] == 0.25
    assert metrics["macro_f1"] == pytest.approx((2 / 3) / 4)  # happiness: 2*1/(1+2); the other classes 0
    assert metrics["label_f1"] == pytest.approx((1 + 0 + 2 / 3 + 0) / 4)
    assert metrics["format_rate"] == 0.5
    assert metrics["au_f1"] == pytest.approx(2 / 5)  # AU6 1, AU12 1, AU1 0, AU15 0, AU4 0; r3 has no AU coding
    assert metrics["tem_f1"] == 0.5  # r1 identical events (1.0); r2 "garbage" has no events (0.0)
    assert metrics["rouge_l"] == 1.0 and metrics["bleu"] == 1.0
    cov = metrics["coverage"]
    assert (cov["references"], cov["predictions"], cov["matched"]) == (4, 4, 3)
    assert (cov["missing_predictions"], cov["unmatched_predictions"]) == (1, 1)
    assert cov["missing_ids"] == ["r4"] and cov["unmatched_ids"] == ["x9"]
    assert metrics["confusion_matrix"]["columns"][-1] == "<unparsed>"
    assert metrics["per_group"] == {} and "no per-group breakdown" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("preds", "refs", "message"),
    [
        ([], [{"id": "a", "label": "happy"}], "--predictions .*: the file is empty"),
        ([{"id": "a", "output": "x"}, "{not json"], [{"id": "a", "label": "happy"}], r"preds.jsonl, line 2: not val"),
        ([{"id": "a"}], [{"id": "a", "label": "happy"}], r'line 1: a prediction needs "id" and "output"'),
        (["[1, 2]"], [{"id": "a", "label": "happy"}], "line 1: expected a JSON object"),
        ([{"id": "a", "output": "x"}, {"id": None, "output": "y"}], [{"id": "a", "label": "happy"}],
         r'preds.jsonl, line 2: "id" is empty; give the id of the reference'),
        ([{"id": "a", "output": {"label": "happy"}}], [{"id": "a", "label": "happy"}],
         r'preds.jsonl, line 1: "output" must be the raw model text \(a string\), not dict'),
        ([{"id": "a", "output": None}], [{"id": "a", "label": "happy"}], r'line 1: "output" .* not null'),
        (
            [{"id": "a", "output": "x"}],
            [{"id": "a", "label": "happy"}, {"id": "b", "label": "hungry"}],
            r"refs.jsonl, line 2: unknown label 'hungry'",
        ),
        ([{"id": "a", "output": "x"}], [{"id": "a", "label": "happy"}, {"id": "a", "label": "sad"}], "repeated: a"),
        ([{"id": "a", "output": "x"}], [{"label": "happy"}], 'needs an "id"'),
        ([{"id": "a", "output": "x"}], [], "--references .*: the file is empty"),
    ],
)
def test_bad_input_raises_a_clear_error(tmp_path: Path, preds: list, refs: list, message: str) -> None:
    config = EvalConfig(out=tmp_path / "out", predictions=write_jsonl(tmp_path / "preds.jsonl", preds),
                        references=write_jsonl(tmp_path / "refs.jsonl", refs))  # fmt: skip
    with pytest.raises(EmoreasonError, match=message):
        evaluate(config)


def test_bad_dataset_folders(toy_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(EmoreasonError, match="has splits train, test; choose one with --split"):
        load_references(toy_dataset)
    with pytest.raises(EmoreasonError, match="no split 'dev'; it has: train, test"):
        load_references(toy_dataset, "dev")
    with pytest.raises(EmoreasonError, match="not a dataset folder"):
        load_references(tmp_path)
    with pytest.raises(EmoreasonError, match=r"^--dataset missing: no such file or folder; pass a build-data dataset "
                       r"folder$"):  # fmt: skip
        evaluate(EvalConfig(out=tmp_path / "o", dataset=Path("missing")))
    with pytest.raises(EmoreasonError, match=r"^--references gone: no such file or folder; pass .* or a JSONL"):
        evaluate(EvalConfig(out=tmp_path / "o", predictions=tmp_path / "p.jsonl", references=Path("gone")))
    with pytest.raises(EmoreasonError, match=r"^--predictions .*p.jsonl: no such file$"):
        evaluate(
            EvalConfig(out=tmp_path / "o", predictions=tmp_path / "p.jsonl", references=toy_dataset, split="test")
        )


def test_cli_usage_errors_and_one_line_user_errors(tmp_path: Path) -> None:
    assert runner.invoke(app, ["eval", "--out", str(tmp_path)]).exit_code == 2
    assert runner.invoke(app, ["eval", "--out", str(tmp_path), "--predictions", "p.jsonl"]).exit_code == 2
    bad = write_jsonl(tmp_path / "p.jsonl", [{"id": "a", "output": "x"}, "oops"])
    refs = write_jsonl(tmp_path / "r.jsonl", [{"id": "a", "label": "happy"}])
    cmd = [sys.executable, "-m", "emoreason", "eval", "--predictions", str(bad), "--references", str(refs),
           "--out", str(tmp_path / "o")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "p.jsonl, line 2: not valid JSON" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_real_build_data_dataset_is_scored(tmp_path: Path) -> None:
    """`emoreason build-data manifest` (the real builder) then `emoreason eval --backend rules`."""
    import numpy as np
    from PIL import Image

    items = [("happy", {"AU6": 2.5, "AU12": 3.2}), ("sad", {"AU1": 2.0, "AU15": 2.5}), ("angry", {"AU4": 3, "AU7": 3})]
    lines = []
    for i, (label, aus) in enumerate(items):
        Image.fromarray(np.full((48, 48, 3), 40 * i, dtype=np.uint8)).save(tmp_path / f"img{i}.png")
        lines.append({"path": f"img{i}.png", "label": label, "aus": aus, "split": "test"})
    manifest = write_jsonl(tmp_path / "manifest.jsonl", lines)
    built = runner.invoke(app, ["build-data", "manifest", "--root", str(manifest), "--out", str(tmp_path / "ds"),
                                "--au-source", "dataset"])  # fmt: skip
    assert built.exit_code == 0, built.output
    out = tmp_path / "eval"
    result = runner.invoke(app, ["eval", "--dataset", str(tmp_path / "ds"), "--split", "test", "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] == 1.0 and metrics["au_f1"] == 1.0 and metrics["n_samples"] == 3
    assert (out / "confusion_matrix.png").stat().st_size > 5000


def test_open_vocabulary_references_switch_the_parser_to_open_labels(tmp_path: Path) -> None:
    refs = write_jsonl(tmp_path / "refs.jsonl", [
        {"id": "a", "label": None, "labels": ["anxiety"]},
        {"id": "b", "label": None, "labels": "worried"},  # a bare string is one label
        {"id": "c", "label": "happy", "labels": []},
    ])  # fmt: skip
    preds = write_jsonl(tmp_path / "preds.jsonl", [
        {"id": "a", "output": "<answer>anxious</answer>"},
        {"id": "b", "output": "<answer>calm</answer>"},
        {"id": "c", "output": "<answer>joyful</answer>"},
    ])  # fmt: skip
    metrics = evaluate(EvalConfig(out=tmp_path / "o", predictions=preds, references=refs, n_bootstrap=0))
    assert metrics["label_set"] == "open"
    assert metrics["accuracy"] == pytest.approx(2 / 3)  # anxiety and happiness right; calm is not worry
    assert metrics["format_rate"] == 0.0 and metrics["au_f1"] is None and metrics["rouge_l"] is None


class RecordingRules(RuleReasoner):
    """The rules backend, recording the label set each Evidence asked for."""

    seen: list[str] = []

    def reason(self, evidence):  # type: ignore[no-untyped-def]
        RecordingRules.seen += [ev.label_set for ev in evidence]
        return super().reason(evidence)


def test_a_basic_label_dataset_is_prompted_with_basic_labels(
    toy_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A RAF-DB basic / FER split must not let the backend answer one of the 11 compounds it was never asked for."""
    from emoreason.eval import runner as runner_module

    monkeypatch.setattr(runner_module, "_build_reasoner", lambda config: RecordingRules())
    RecordingRules.seen = []
    metrics = evaluate(EvalConfig(out=tmp_path / "o", dataset=toy_dataset, split="test", n_bootstrap=0))
    assert metrics["label_set"] == "basic" and RecordingRules.seen == ["basic"] * 8
    # An off-list compound answer is still read as what it says: a wrong class, partial label_f1, not "unparsed".
    refs = write_jsonl(tmp_path / "refs.jsonl", [{"id": "a", "label": "happiness"}, {"id": "b", "label": "sadness"}])
    preds = write_jsonl(tmp_path / "preds.jsonl", [{"id": "a", "output": "<answer>happily surprised</answer>"},
                                                   {"id": "b", "output": "<answer>sad</answer>"}])  # fmt: skip
    metrics = evaluate(EvalConfig(out=tmp_path / "p", predictions=preds, references=refs, n_bootstrap=0))
    assert metrics["label_set"] == "basic" and metrics["counts"]["unparsed"] == 0
    assert metrics["confusion_matrix"]["columns"] == ["happiness", "sadness", "happily surprised"]
    assert metrics["accuracy"] == 0.5 and metrics["label_f1"] == pytest.approx((2 / 3 + 1) / 2)


def test_report_sorts_age_groups_by_age_and_says_when_nothing_is_quoted(tmp_path: Path) -> None:
    refs = write_jsonl(tmp_path / "refs.jsonl", [
        {"id": str(i), "label": "happiness", "meta": {"age": age}} for i, age in enumerate(["70+", "4-19", "20-39"])
    ])  # fmt: skip
    preds = write_jsonl(
        tmp_path / "preds.jsonl", [{"id": str(i), "output": "<answer>happy</answer>"} for i in range(3)]
    )
    metrics = evaluate(EvalConfig(out=tmp_path / "o", predictions=preds, references=refs, n_bootstrap=0))
    assert list(metrics["per_group"]["age"]) == ["4-19", "20-39", "70+"]
    report = (tmp_path / "o" / "report.md").read_text()
    assert "n/a (no output quotes any speech)" in report and "n/a of 0 quotes" not in report
