"""`emoreason analyze --backend hf` end to end on a tiny random VLM, offline: it runs, and random weights give
``label: null`` with ``format_ok: false`` per face, not a crash; a bad --model is one line on stderr (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from emoreason.cli import app

runner = CliRunner()


def test_analyze_with_the_hf_backend(face_photo: Path, tiny_vlm: Path) -> None:
    args = ["analyze", str(face_photo), "--backend", "hf", "--model", str(tiny_vlm), "--json", "--max-new-tokens", "8"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert record["status"] == "ok" and record["error"] is None
    face = record["faces"][0]
    assert face["label"] is None and face["format_ok"] is False and face["scores"] == {}
    assert isinstance(face["raw"], str) and face["raw"] and face["aus"]["AU12L"] >= 3  # perception still measured


def test_analyze_hf_with_a_bad_model_is_one_line(face_photo: Path, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    result = runner.invoke(app, ["analyze", str(face_photo), "--backend", "hf", "--model", str(tmp_path), "--json"])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
