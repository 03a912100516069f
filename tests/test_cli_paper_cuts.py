"""Paper cuts a new user hit: a path printed twice, --version, Ctrl-C messages, the model card's base_model, Ray's
log noise, help cut at 80 columns. (Crop names agree with "face N": tests/test_cli_analyze.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from emoreason.cli import app
from emoreason.errors import about

runner = CliRunner()


# ------------------------------------------------------------------------------------------ a path printed once
def test_about_names_the_path_once() -> None:
    assert about("a/b.jpg", "cannot identify image file 'a/b.jpg'") == "cannot identify image file 'a/b.jpg'"
    assert about(Path("a/b.jpg"), "a/b.jpg: no such file; check the path") == "a/b.jpg: no such file; check the path"
    assert about("a/b.mp4", ValueError("reasoner failed")) == "a/b.mp4: reasoner failed"


def test_analyze_errors_print_the_path_once(tmp_path: Path) -> None:
    (tmp_path / "bad.jpg").write_text("not an image")
    (tmp_path / "nothing").mkdir()  # a folder with photos is read (issue 27 item 8); one without is an error
    for name in ("missing.jpg", "bad.jpg", "nothing"):
        path = str(tmp_path / name)
        result = runner.invoke(app, ["analyze", path])
        assert result.exit_code == 1
        once = 2 if name == "nothing" else 1  # "DIR is a directory; give image files (for example DIR/*.jpg)"
        assert result.stderr.count(path) == once, result.stderr
        assert result.stderr.startswith("error: ")


def test_errors_inside_a_progress_bar_are_the_first_line_of_stderr(tmp_path: Path) -> None:
    """stderr is not a terminal here: no bar is drawn, so nothing (rich's closing blank line) precedes the error."""
    commands = (
        ["eval", "--dataset", "missing", "--out", str(tmp_path / "e")],
        ["build-data", "rafdb", "--root", str(tmp_path / "missing"), "--out", str(tmp_path / "b")],
    )
    for command in commands:
        result = subprocess.run([sys.executable, "-m", "emoreason", *command], capture_output=True, text=True)
        assert result.returncode == 1 and result.stderr.startswith("error: --"), repr(result.stderr)
    missing = str(tmp_path / "missing.mp4")  # caption's own bar follows the same rule (cli.common.bars_wanted)
    command = ["caption", missing, "--out", str(tmp_path / "c.jsonl")]
    result = subprocess.run([sys.executable, "-m", "emoreason", *command], capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr == f"  error: {missing}: no such file; check the path\n"


def test_build_data_detail_names_a_corrupt_image_once(tmp_path: Path) -> None:
    (tmp_path / "bad.jpg").write_text("not an image")
    (tmp_path / "m.csv").write_text("path,label\nbad.jpg,happy\n")
    args = ["build-data", "manifest", "--root", str(tmp_path / "m.csv"), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    (skipped,) = [json.loads(line) for line in (tmp_path / "o" / ".work" / "skipped.jsonl").read_text().splitlines()]
    assert skipped["reason"] == "corrupt image" and skipped["detail"].count("bad.jpg") == 1, skipped


# ------------------------------------------------------------------------------------------------- --version
def test_version_flag() -> None:
    for flag in ("--version", "-V"):
        result = runner.invoke(app, [flag])
        assert result.exit_code == 0 and result.stdout.strip() == f"emoreason {version('emoreason')}"


# ---------------------------------------------------------------------------------------------------- Ctrl-C
def _interrupt_after(progress_calls: list[tuple[int, int]]) -> Any:
    def run(config: Any, progress: Any = None) -> Any:
        for done, total in progress_calls:
            progress(done, total)
        raise KeyboardInterrupt

    return run


def test_ctrl_c_in_build_data_says_what_was_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import emoreason.data_builders.build as build_module

    monkeypatch.setattr(build_module, "build", _interrupt_after([(0, 10), (3, 10)]))
    out = tmp_path / "data"
    result = runner.invoke(app, ["build-data", "rafdb", "--root", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 130
    assert f"interrupted: 3 of 10 items are kept in {out / '.work'}" in result.stderr
    assert "run the same command again to resume" in result.stderr and "Traceback" not in result.output


def test_ctrl_c_in_eval_and_caption(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import emoreason.eval.runner as runner_module
    import emoreason.pipelines.caption as caption_module

    monkeypatch.setattr(runner_module, "evaluate", _interrupt_after([(4, 9)]))
    result = runner.invoke(app, ["eval", "--dataset", str(tmp_path), "--out", str(tmp_path / "ev")])
    assert result.exit_code == 130
    assert f"interrupted: 4 predictions are kept in {tmp_path / 'ev' / 'predictions.jsonl'}" in result.stderr
    assert "run the same command again to resume" in result.stderr

    def caption_inputs(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(caption_module, "caption_inputs", caption_inputs)
    result = runner.invoke(app, ["caption", "x.mp4", "--out", str(tmp_path / "c.jsonl")])
    assert result.exit_code == 130 and "finished videos are saved in" in result.stderr


# ----------------------------------------------------------------------------------------- model card base_model
def test_card_base_is_a_hub_id_or_an_absolute_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from emoreason.train.export import card_base
    from emoreason.train.model_card import render_card

    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "base").mkdir(parents=True)
    assert card_base("Qwen/Qwen2.5-VL-3B-Instruct") == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert card_base("models/base") == str(tmp_path / "models" / "base")

    hub = yaml.safe_load(render_card("Qwen/Qwen2.5-VL-3B-Instruct", tmp_path, True, None).split("---")[1])
    assert hub["base_model"] == "Qwen/Qwen2.5-VL-3B-Instruct"
    card = render_card(card_base("models/base"), tmp_path, True, None)
    assert "base_model" not in yaml.safe_load(card.split("---")[1])  # the Hub takes model ids only there
    assert f"`{tmp_path / 'models' / 'base'}`" in card and "add its Hub id" in card


# -------------------------------------------------------------------------------------------------- Ray noise
def test_ray_engine_run_is_quiet(capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("ray.data")
    from emoreason.pipelines.caption import caption_inputs

    (tmp_path / "notes.mp4").write_text("not a video")
    summary = caption_inputs([str(tmp_path / "notes.mp4")], tmp_path / "c.jsonl", engine="ray", progress=False)
    assert summary.counts == {"error": 1}
    err = capfd.readouterr().err
    for noise in ("core_worker", "Started a local Ray instance", "Starting execution", "Progress bars disabled",
                  "concurrency`` is deprecated"):  # fmt: skip
        assert noise not in err, err


# ------------------------------------------------------------------------------------------ help at 80 columns
@pytest.mark.parametrize("command", [["caption"], ["analyze"], ["build-data"], ["eval"], ["serve"], []])
def test_help_fits_80_columns(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert all(len(line) <= 80 for line in result.stdout.splitlines()), result.stdout
    assert "…" not in result.stdout  # nothing cut off
    if command == ["caption"]:
        assert "--explain-modalities" in result.stdout and "'ray[data]'" in result.stdout
