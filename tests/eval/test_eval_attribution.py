"""Modality attribution: `emoreason eval --ablate`, the ModalityProbe behind `--explain-modalities`, the prompt line,
and the OV scores in `emoreason eval`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emoreason.cli import app
from emoreason.errors import EmoreasonError
from emoreason.eval.attribution import ModalityProbe, attribution_table, describe
from emoreason.eval.runner import EvalConfig, evaluate
from emoreason.modalities import parse_modalities, present_modalities, without_modality
from emoreason.schema import Evidence, Reasoning

runner = CliRunner()


class Stub:
    """A deterministic backend independent of the rule engine: an emotion word said wins, then the face (AU12 happy,
    AU15 sad, AU4 angry), then a quiet voice (sad), else neutral."""

    name = "stub"

    def __init__(self) -> None:
        self.calls: list[list[Evidence]] = []

    def reason(self, evidence: list[Evidence]) -> list[Reasoning]:
        self.calls.append(evidence)
        return [self._answer(ev) for ev in evidence]

    @staticmethod
    def _answer(ev: Evidence) -> Reasoning:
        label = "neutral"
        said = [lab for word, lab in (("happy", "happiness"), ("sad", "sadness"), ("scared", "fear"))
                if word in ev.transcript.lower()]  # fmt: skip
        shown = [lab for au, lab in (("AU12", "happiness"), ("AU15", "sadness"), ("AU4", "anger"))
                 if ev.aus.get(au, 0.0) >= 1.0]  # fmt: skip
        if said or shown:
            label = (said or shown)[0]
        elif "quiet" in ev.prosody:
            label = "sadness"
        raw = f"<think>Key observations: x\nOverall interpretation: y\nConclusion: {label}.</think>"
        raw += f"<answer>{label}</answer>"
        return Reasoning(raw=raw, label=label, labels=[label], format_ok=True, backend="stub")


# (gold, AUs, transcript, prosody) -> Stub with all modalities / without face / speech / prosody
ROWS = [
    ("happiness", {"AU12": 3.0}, "", ""),  # happiness; no face: neutral (changed, now wrong)
    ("sadness", {"AU15": 3.0}, "I am sad", ""),  # sadness; no face: sadness (words); no speech: sadness (face)
    ("happiness", {"AU4": 3.0}, "I am so happy", ""),  # happiness (words win); no speech: anger (changed, wrong)
    ("fear", None, "I'm scared", ""),  # speech only: fear; no speech: neutral (changed, wrong)
    ("sadness", None, "", "quiet, low pitch"),  # prosody only: sadness; no prosody: neutral (changed, wrong)
    ("anger", {"AU12": 3.0}, "", ""),  # happiness (wrong); no face: neutral (changed, still wrong)
]


@pytest.fixture(scope="module")
def multimodal_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datasets import Dataset, DatasetDict

    rows = [{"id": f"m{i}", "images": [], "aus": aus, "transcript": said, "prosody": prosody, "label": gold,
             "labels": [gold], "meta": {"source": "toy"}}
            for i, (gold, aus, said, prosody) in enumerate(ROWS)]  # fmt: skip
    path = tmp_path_factory.mktemp("mm") / "dataset"
    DatasetDict({"test": Dataset.from_list(rows)}).save_to_disk(str(path))
    return path


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Stub:
    backend = Stub()
    monkeypatch.setattr("emoreason.eval.runner._build_reasoner", lambda config: backend)
    return backend


def test_present_and_removed_modalities() -> None:
    ev = Evidence(
        id="x", aus={"AU12": 3.0}, au_text="AU12 (marked)", transcript="great", prosody="loud", meta={"k": 1}
    )
    assert present_modalities(ev) == ["face", "speech", "prosody"]
    no_face = without_modality(ev, "face")
    assert present_modalities(no_face) == ["speech", "prosody"] and no_face.meta == {"k": 1, "face": False}
    assert ev.aus == {"AU12": 3.0} and ev.meta == {"k": 1}  # the original is unchanged
    assert present_modalities(without_modality(ev, "speech")) == ["face", "prosody"]
    assert present_modalities(without_modality(ev, "prosody")) == ["face", "speech"]
    assert present_modalities(Evidence(id="v", aus={"AU12": 3.0}, meta={"face": False})) == []  # speech-only window
    with pytest.raises(EmoreasonError, match="unknown modality voice; choose from: face, speech, prosody"):
        parse_modalities("face,voice")


def test_the_prompt_says_which_modalities_are_present() -> None:
    from emoreason.reasoning.prompts import render_user

    ev = Evidence(id="x", aus={"AU12": 3.0}, transcript="great")
    assert "Modalities present: face, speech (not available: prosody)." in render_user(ev)
    speech_only = render_user(without_modality(ev, "face"))
    assert "Modalities present: speech (not available: face, prosody)." in speech_only
    assert "No face visible." in speech_only
    assert "Modalities present: none (not available: face, speech, prosody)." in render_user(Evidence(id="e"))


def test_eval_ablate_reports_accuracy_without_each_modality(
    multimodal_dataset: Path, tmp_path: Path, stub: Stub
) -> None:
    out = tmp_path / "ablate"
    result = runner.invoke(app, ["eval", "--dataset", str(multimodal_dataset), "--out", str(out), "--bootstrap", "0",
                                 "--ablate", "face,speech,prosody"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| face | 4 | 2 | 0.500 | 0.667 | -0.167 |" in result.output and "modality_attribution.png" in result.output
    # the backend ran once over the split, then once per removed modality over the rows that have it
    assert sum(len(c) for c in stub.calls) == 6 + 4 + 3 + 1
    metrics = json.loads((out / "metrics.json").read_text())
    summary = metrics["modality_attribution"]
    per = summary["per_modality"]
    # worked by hand from ROWS: full 5/6 right (m5 wrong)
    assert metrics["accuracy"] == 5 / 6 and summary["accuracy"] == 5 / 6
    assert per["face"] == {"n_present": 4, "changed": 2, "changed_rate": 0.5, "accuracy_without": 4 / 6,
                           "delta_accuracy": pytest.approx(4 / 6 - 5 / 6), "errors": 0}  # fmt: skip
    assert (per["speech"]["n_present"], per["speech"]["changed"], per["speech"]["accuracy_without"]) == (3, 2, 3 / 6)
    assert (per["prosody"]["n_present"], per["prosody"]["changed"], per["prosody"]["accuracy_without"]) == (
        1,
        1,
        4 / 6,
    )
    samples = {s["id"]: s for s in map(json.loads, (out / "per_sample.jsonl").read_text().splitlines())}
    assert samples["m2"]["ablation"]["without"]["speech"] == {"pred": "anger", "pred_labels": ["anger"],
                                                              "changed": True, "correct": False}  # fmt: skip
    assert samples["m2"]["ablation"]["without"]["face"]["changed"] is False
    assert samples["m3"]["ablation"]["present"] == ["speech"] and "face" not in samples["m3"]["ablation"]["without"]
    report = (out / "report.md").read_text()
    assert "## Modality attribution" in report and "![modality attribution](modality_attribution.png)" in report
    assert "Changed without speech (first 2): m2 (happiness): happiness -> anger; m3 (fear): fear -> neutral" in report
    png = (out / "modality_attribution.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert sorted(p.name for p in (out / "ablate").iterdir()) == ["face.jsonl", "prosody.jsonl", "speech.jsonl"]
    assert len((out / "ablate" / "speech.jsonl").read_text().splitlines()) == 3  # only rows that have speech


def test_the_backend_sees_the_evidence_without_the_modality(
    multimodal_dataset: Path, tmp_path: Path, stub: Stub
) -> None:
    evaluate(EvalConfig(out=tmp_path / "o", dataset=multimodal_dataset, n_bootstrap=0, ablate="face"))
    no_face = stub.calls[-1]
    assert [ev.id for ev in no_face] == ["m0", "m1", "m2", "m5"]
    assert all(ev.aus == {} and ev.meta["face"] is False and ev.au_text == "No face visible." for ev in no_face)
    assert no_face[1].transcript == "I am sad"  # the other modalities are kept


def test_rules_backend_ablation_runs_end_to_end(toy_dataset: Path, tmp_path: Path) -> None:
    """The default backend with --ablate all: every modality row in the table (numbers depend on the rule engine)."""
    metrics = evaluate(EvalConfig(out=tmp_path / "o", dataset=toy_dataset, n_bootstrap=0, ablate="all"))
    per = metrics["modality_attribution"]["per_modality"]
    assert list(per) == ["face", "speech", "prosody"]
    assert per["face"]["n_present"] == 7 and per["speech"]["n_present"] == 1 and per["prosody"]["n_present"] == 0
    assert per["prosody"]["changed_rate"] is None and per["prosody"]["accuracy_without"] == metrics["accuracy"]
    assert 0 <= per["face"]["changed_rate"] <= 1 and (tmp_path / "o" / "modality_attribution.png").is_file()


def test_ablate_resumes_and_needs_a_backend(multimodal_dataset: Path, tmp_path: Path, stub: Stub) -> None:
    config = EvalConfig(out=tmp_path / "r", dataset=multimodal_dataset, n_bootstrap=0, ablate="speech")
    first = evaluate(config)
    lines = (tmp_path / "r" / "ablate" / "speech.jsonl").read_text()
    calls = len(stub.calls)
    again = evaluate(config)  # everything is already predicted: nothing is rerun, same numbers
    assert len(stub.calls) == calls
    assert (tmp_path / "r" / "ablate" / "speech.jsonl").read_text() == lines
    assert first["modality_attribution"] == again["modality_attribution"]
    with pytest.raises(EmoreasonError, match="--ablate reruns the backend"):
        evaluate(EvalConfig(out=tmp_path / "p", predictions=tmp_path / "x.jsonl", references=tmp_path / "y.jsonl",
                            ablate="face"))  # fmt: skip
    result = runner.invoke(app, ["eval", "--predictions", "p.jsonl", "--references", "r.jsonl", "--out", "o",
                                 "--ablate", "face"])  # fmt: skip
    assert result.exit_code == 2 and "--ablate" in result.output


def test_eval_reports_ov_scores_per_level(tmp_path: Path) -> None:
    refs = [
        {"id": "a", "label": "happiness", "labels": ["happy"]},
        {"id": "b", "label": "anger", "labels": ["annoyed", "frustrated"]},
        {"id": "c", "label": "dissatisfied"},
    ]  # a lexicon word outside labels.py is a valid open reference
    preds = [{"id": "a", "output": "<answer>joyful, excited</answer>"},
             {"id": "b", "output": "<answer>angry</answer>"},
             {"id": "c", "output": "<answer>zorgish</answer>"}]  # fmt: skip
    for name, rows in (("refs.jsonl", refs), ("preds.jsonl", preds)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    metrics = evaluate(EvalConfig(out=tmp_path / "o", predictions=tmp_path / "preds.jsonl",
                                  references=tmp_path / "refs.jsonl", n_bootstrap=0))  # fmt: skip
    # synonym level: P = (1/2 + 0 + 0) / 3, R = (1 + 0 + 0) / 3
    assert metrics["ov_precision"]["synonym"] == pytest.approx(1 / 6) and metrics["ov_recall"]["synonym"] == 1 / 3
    assert metrics["ov_f"]["synonym"] == pytest.approx(2 * (1 / 6) * (1 / 3) / (1 / 6 + 1 / 3))
    assert metrics["ov"]["unknown"] == {"zorgish": 1}
    report = (tmp_path / "o" / "report.md").read_text()
    assert "| synonym | 0.167 | 0.333 | 0.222 |" in report and "zorgish (1)" in report
    sample = json.loads((tmp_path / "o" / "per_sample.jsonl").read_text().splitlines()[0])
    assert sample["ov"]["precision"] == {"base": 0.0, "synonym": 0.5, "wheel": 0.5}


def test_ov_is_null_without_labels_and_the_benchmark_table_needs_a_known_source(
    toy_dataset: Path, tmp_path: Path
) -> None:
    from emoreason.eval.report import benchmark_rows, render_markdown

    metrics = evaluate(EvalConfig(out=tmp_path / "o", dataset=toy_dataset, n_bootstrap=0))
    assert metrics["sources"] == ["toy"] and benchmark_rows(metrics) == []
    assert "Compared with published results" not in (tmp_path / "o" / "report.md").read_text()
    dfew = {**metrics, "sources": ["dfew"]}
    text = render_markdown(dfew, has_png=False)
    assert "| WAR | 0.750 | 0.658 | R1-Omni (Zhao, Wei & Bo 2025, arXiv:2503.05379, Table 1)" in text
    assert "protocol difference" in text
    bp4d = benchmark_rows({"sources": ["bp4d"], "au_f1": 0.5})
    assert bp4d[0]["value"] == 0.674 and "Facial-R1" in bp4d[0]["system"] and "au_f1" in bp4d[0]["protocol"]


def test_probe_answers_unchanged_and_runs_once_per_removed_modality() -> None:
    inner = Stub()
    probe = ModalityProbe(inner)
    evidence = [
        Evidence(id="smile", aus={"AU12": 3.0}),
        Evidence(id="words", aus={"AU4": 3.0}, transcript="I am so happy", prosody="loud, fast"),
    ]
    answers = probe.reason(evidence)
    assert [a.label for a in answers] == ["happiness", "happiness"]
    assert [len(c) for c in inner.calls] == [2, 2, 1, 1]  # full, then without face (2), speech (1), prosody (1)
    assert probe.name == "stub"  # attributes pass through to the wrapped backend
    smile, words = probe.take(2)
    assert smile["present"] == ["face"] and smile["without"]["face"]["label"] == "neutral"
    assert words["without"]["speech"] == {"label": "anger", "labels": ["anger"], "changed": True, "correct": None}
    assert words["without"]["face"]["changed"] is False and words["without"]["prosody"]["changed"] is False
    assert describe(smile) == "without face -> neutral; speech: absent; prosody: absent"
    assert describe(words) == "without face: same answer; without speech -> anger; without prosody: same answer"
    table = attribution_table(probe.summary())
    assert "| face | 2 | 1 | 0.500 | n/a | n/a |" in table and "| speech | 1 | 1 | 1.000 | n/a | n/a |" in table
    assert probe.take(1) == []


def test_a_failing_ablation_run_keeps_the_full_answer() -> None:
    class Flaky(Stub):
        def reason(self, evidence: list[Evidence]) -> list[Any]:
            if any(ev.meta.get("face") is False for ev in evidence):
                raise RuntimeError("no face, no answer")
            return super().reason(evidence)

    probe = ModalityProbe(Flaky())
    answers = probe.reason([Evidence(id="x", aus={"AU12": 3.0})])
    assert answers[0].label == "happiness"
    assert probe.records[0]["without"]["face"]["error"] == "no face, no answer"
    assert probe.summary()["per_modality"]["face"]["errors"] == 1


def test_analyze_explain_modalities(face_photo: Path) -> None:
    result = runner.invoke(app, ["analyze", str(face_photo), "--json", "--explain-modalities"])
    assert result.exit_code == 0, result.output
    face = json.loads(result.output.splitlines()[0])["faces"][0]
    attribution = face["modality_attribution"]
    # a photo has only a face: removing it leaves nothing to read (the rules then say neutral)
    assert attribution["present"] == ["face"] and set(attribution["without"]) == {"face"}
    assert attribution["summary"].startswith("without face") and attribution["summary"].endswith("prosody: absent")
    text = runner.invoke(app, ["analyze", str(face_photo), "--explain-modalities"])
    assert text.exit_code == 0 and "face 1 modalities: without face" in text.output
    assert "| face | 1 |" in text.output and "| speech | 0 | 0 | n/a |" in text.output


def test_attribution_records_append_once_and_resume_after_a_torn_line(tmp_path: Path) -> None:
    from emoreason.eval.attribution import append_jsonl

    path = tmp_path / "captions.modalities.jsonl"
    first = [{"id": "a.mp4#0", "changed": False}, {"id": "a.mp4#1", "changed": True}]
    assert append_jsonl(path, first) == 2
    with path.open("a") as handle:
        handle.write('{"id": "b.mp4#0", "chan')  # a run killed mid-line
    assert append_jsonl(path, [*first, {"id": "b.mp4#0", "changed": False}]) == 1
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["id"] for r in lines] == ["a.mp4#0", "a.mp4#1", "b.mp4#0"]
