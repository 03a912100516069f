"""`emoreason analyze`: --json fields, exit codes, readable output, no traceback for any bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emoreason.cli import app

runner = CliRunner()
FACE_FIELDS = {
    "box", "aus", "label", "scores", "head_pose", "quality", "quality_text", "uncertain_aus", "expression", "raw",
    "format_ok"
}


def run_json(*args: str) -> tuple[int, list[dict], str]:
    result = runner.invoke(app, ["analyze", "--json", *args])
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, records, result.stderr


def test_json_fields_for_a_face(face_photo: Path) -> None:
    code, records, _ = run_json(str(face_photo))
    assert code == 0 and len(records) == 1
    record = records[0]
    assert set(record) == {"path", "status", "error", "faces"}
    assert record["path"] == str(face_photo) and record["status"] == "ok" and record["error"] is None
    face = record["faces"][0]
    assert set(face) == FACE_FIELDS
    assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
    assert face["aus"]["AU12L"] >= 3 and all(k.startswith("AU") for k in face["aus"])
    assert face["label"] in face["scores"] and set(face["head_pose"]) == {"yaw", "pitch", "roll"}
    assert face["raw"].startswith("<think>") and face["raw"].endswith(f"<answer>{face['label']}</answer>")


def test_no_face_is_not_a_failure(no_face_photo: Path) -> None:
    code, records, _ = run_json(str(no_face_photo))
    assert code == 0 and records == [{"path": str(no_face_photo), "status": "no_face", "error": None, "faces": []}]


def test_bad_inputs_fail_one_by_one_and_the_rest_is_reported(face_photo: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(face_photo.read_bytes()[:5000])
    nothing = tmp_path / "nothing"
    nothing.mkdir()  # a folder with no photo in it is an error record (one with photos is read: test_cli_paper_cuts)
    inputs = [str(tmp_path / "missing.jpg"), str(nothing), str(text), str(truncated), str(empty), str(face_photo)]
    code, records, _ = run_json(*inputs)
    assert code == 1
    assert [r["path"] for r in records] == inputs
    assert [r["status"] for r in records] == ["error"] * 5 + ["ok"]
    for record in records[:5]:
        assert record["error"] and "\n" not in record["error"] and "Traceback" not in record["error"]


def test_readable_summary(face_photo: Path) -> None:
    result = runner.invoke(app, ["analyze", str(face_photo)])
    assert result.exit_code == 0
    out = result.stdout
    assert "1 face" in out and "AU12" in out and "lip corner puller" in out
    assert "head pose: yaw" in out and "reasoning:" in out and "conclusion:" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--backend", "nope"], "--backend: 'nope' is not one of: rules, hf"),
        (["--label-set", "huge"], "--label-set"),
        (["--au-source", "magic"], "--au-source"),
        (["--au-source", "openface"], "--openface-csv"),
        (["--openface-csv", "/no/such.csv", "--au-source", "openface"], "no such file"),
        (["--backend", "hf"], "needs --model"),
        (["--face-model", "/no/face_landmarker.task"], "face model not found"),
    ],
)
def test_usage_errors_exit_2_with_one_line(face_photo: Path, args: list[str], words: str) -> None:
    result = runner.invoke(app, ["analyze", str(face_photo), *args])
    assert result.exit_code == 2
    assert words in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_crops_and_openface_source(face_photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from emoreason.testing.openface_csv import write_csv

    csv_dir = tmp_path / "openface"
    csv_dir.mkdir()
    meta = {"face": 0, "confidence": 0.97, "cx": 225.0, "cy": 125.0}
    write_csv(csv_dir / f"{face_photo.stem}.csv", "image", [(meta, {4: 3.0, 7: 2.5, 23: 2.5}, {4, 7, 23})])
    crops = tmp_path / "crops"
    code, records, _ = run_json(
        str(face_photo), "--au-source", "openface", "--openface-csv", str(csv_dir), "--crops", str(crops),
        "--expression-model", "none",
    )
    assert code == 0
    face = records[0]["faces"][0]
    assert face["aus"]["AU4"] == 3.0 and face["label"] == "anger"  # the CSV's AUs, not the smile
    # with the face model (the default) the CSV's AUs are fused with what the model sees, and the CoT says so
    monkeypatch.delenv("EMOREASON_EXPRESSION_MODEL", raising=False)  # set by the in-process run above
    _, records, _ = run_json(str(face_photo), "--au-source", "openface", "--openface-csv", str(csv_dir))
    both = records[0]["faces"][0]
    assert both["aus"]["AU4"] == 3.0 and both["expression"] and "Face model: happiness" in both["raw"]
    saved = list(crops.glob("*.png"))
    assert [p.name for p in saved] == [f"{face_photo.stem}_face1.png"]
    from PIL import Image

    assert Image.open(saved[0]).size == (336, 336)


def test_console_script_prints_one_line_not_a_traceback(tmp_path: Path) -> None:
    text = tmp_path / "fake.jpg"
    text.write_text("not an image")
    exe = Path(sys.executable).with_name("emoreason")
    proc = subprocess.run([str(exe), "analyze", str(text)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "not an image file" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1
