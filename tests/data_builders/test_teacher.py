"""Teacher CoTs with rejection sampling: a loopback OpenAI-compatible server and a tiny random VLM."""

from __future__ import annotations

from pathlib import Path

import replicas
from typer.testing import CliRunner

from emoreason.data_builders.build import BuildConfig, build
from emoreason.data_builders.cot import check

HAPPY = (
    "<think>\nKey observations: AU12 lip corner puller (marked) and AU6 cheek raiser (slight).\n"
    "Overall interpretation: a Duchenne smile.\nConclusion: happiness.\n</think>\n<answer>happiness</answer>"
)
WRONG_LABEL = HAPPY  # for the sad row: right format, wrong label, AUs that are not the sad face's
NO_FORMAT = "The person looks sad. Answer: sadness"


def test_check_names_each_problem() -> None:
    row = {"label": "sadness", "labels": ["sadness"], "aus": {"AU1": 2.0, "AU15": 2.5}}
    problems = check(WRONG_LABEL, row, 0.5)
    assert [p.split(":")[0] for p in problems] == ["label", "au_f1"]
    assert "correct label is 'sadness'" in problems[0] and "cite the observed AU1, AU15" in problems[1]
    assert check(NO_FORMAT, row, 0.5)[0].startswith("format: no <think>")
    good = HAPPY.replace("AU12 lip corner puller (marked) and AU6 cheek raiser (slight)", "AU1 and AU15")
    assert check(good.replace("happiness</answer>", "sadness</answer>"), row, 0.5) == []


def test_openai_teacher_accepts_good_retries_bad_with_feedback_then_rejects(tmp_path: Path, teacher_server) -> None:
    from datasets import load_from_disk

    from emoreason.cli import app

    manifest = replicas.manifest(tmp_path / "m")  # a: happy (AU6, AU12), b: sad (AU1, AU15)
    teacher_server.replies = [HAPPY, WRONG_LABEL, NO_FORMAT, NO_FORMAT]
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "build-data", "manifest", "--root", str(manifest), "--out", str(out), "--cot", "teacher",
        "--backend", "openai", "--model", "teacher", "--base-url", teacher_server.base_url,
        "--retries", "2", "--batch-size", "1",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "CoT (teacher): 1/2 accepted (50.0%), 4 generations, 1 rows rejected" in result.output
    assert "failed attempts by reason: au_f1 3, format 2, label 3" in result.output
    assert "accepted at attempt 1: 1" in result.output
    assert len(teacher_server.requests) == 4
    retry = teacher_server.prompt_text(2)
    assert "Your previous answer was rejected: label:" in retry and "correct label is 'sadness'" in retry
    assert "format:" in teacher_server.prompt_text(3)
    assert teacher_server.requests[0]["messages"][1]["content"][0]["type"] == "image_url"  # the face was sent
    data = load_from_disk(str(out))
    assert data["train"]["id"] == ["faces_a"] and data["train"][0]["cot"] == HAPPY
    card = (out / "README.md").read_text()
    assert "CoT mode: **teacher** (teacher: teacher)" in card and "| sadness | 1 | 0 | 0% |" in card
    assert "`format_ok`, and AU-F1 >= 0.5" in card


def test_tiny_random_vlm_teacher_is_rejected_and_counted(tmp_path: Path, tiny_vlm_path: Path) -> None:
    from emoreason.reasoning.base import build_reasoner

    generator = build_reasoner("hf", model=str(tiny_vlm_path), max_new_tokens=16)
    root = replicas.rafdb(tmp_path / "raf", labels={"train_00001.jpg": 4, "test_00001.jpg": 5})
    summary = build(BuildConfig("rafdb", root, tmp_path / "out", cot="teacher", model="tiny-random", retries=1,
                                au_source="none", generator=generator))  # fmt: skip
    a = summary.acceptance
    assert (a["rows"], a["accepted"], a["rejected"], a["generations"]) == (2, 0, 2, 4)
    assert a["rejection_reasons"]["format"] == 4 and a["acceptance_rate"] == 0.0
    lines = "\n".join(summary.lines())
    assert "CoT (teacher): 0/2 accepted (0.0%), 4 generations, 2 rows rejected" in lines
    assert not (tmp_path / "out" / "dataset_dict.json").exists()
    assert "| happiness | 1 | 0 | 0% |" in (tmp_path / "out" / "README.md").read_text()
