"""The README's commands cannot drift (issue 27): its CPU training block and its first analyze block run as they are
written, in a fresh folder, and every `--flag` of every `emoreason ...` line in its bash blocks is one the command
takes."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)


def _commands(block: str) -> list[str]:
    """The block's commands: continuation lines joined, comments and REPL lines (``you> ...``) left out."""
    joined = re.sub(r"\\\n\s*", " ", block)
    lines = [line.split("  #")[0].split(" # ")[0].strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "you>"))]


def _block_after(marker: str) -> str:
    start = README.index(marker)
    return next(b for b in re.findall(r"```bash\n(.*?)```", README[start:], re.S))


def _run_block(block: str, cwd: Path, timeout: float) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}  # fmt: skip
    for command in _commands(block):
        done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
        assert done.returncode == 0, f"README command failed: {command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


@pytest.fixture
def workdir(tmp_path: Path, face_photo: Path) -> Path:
    """A folder like the repository's: the recipes, and a photo.jpg of a face."""
    (tmp_path / "recipes").symlink_to(ROOT / "recipes")
    shutil.copy(face_photo, tmp_path / "photo.jpg")
    return tmp_path


@pytest.mark.timeout(900)
def test_the_cpu_training_path_runs_as_written(workdir: Path) -> None:
    """Make a tiny VLM and toy data, train sft, train grpo, eval, export, analyze with the export (~2 min here)."""
    block = _block_after("**Train on CPU: the whole path on a tiny model.**")
    assert "emoreason train grpo" in block and "emoreason export" in block
    _run_block(block, workdir, timeout=300)
    assert (workdir / "runs" / "tiny-eval" / "metrics.json").is_file()
    assert (workdir / "models" / "tiny" / "README.md").is_file()


def test_the_first_analyze_block_runs_as_written(workdir: Path) -> None:
    _run_block(_block_after("## The main job: analyze a face photo, offline"), workdir, timeout=120)


def _help_flags(words: list[str]) -> set[str]:
    """The flags one command takes, from its own help (train sft/grpo/dpo and synth: TRL's parser's list)."""
    from typer.testing import CliRunner

    from emoreason.cli import app

    if words[:1] == ["synth"] or words[:2] in (["train", "sft"], ["train", "grpo"], ["train", "dpo"]):
        from emoreason.train.config import STAGES, _Parser
        from emoreason.train.synth import SynthConfig

        kind = SynthConfig if words[0] == "synth" else STAGES[words[1]]
        text = _Parser(dataclass_types=[kind]).format_help()
    else:
        text = CliRunner().invoke(app, [*words, "--help"], terminal_width=200).output
    return set(re.findall(r"--[a-z][a-z0-9_-]*", text))


def test_every_flag_in_the_readme_exists() -> None:
    """A renamed or removed option shows here, for every `emoreason ...` line of every bash block."""
    groups = {"train", "data", "review"}
    wrong = []
    for block in BLOCKS:
        for command in _commands(block):
            words = shlex.split(command.replace("\\", ""), comments=True)
            if "emoreason" not in words:
                continue
            words = words[words.index("emoreason") + 1:]  # also `accelerate launch ... -m emoreason train sft ...`
            if not words or words[0].startswith("-"):
                continue
            name = words[:2] if words[0] in groups else words[:1]
            flags = {w.split("=")[0] for w in words[len(name):] if w.startswith("--")}
            missing = sorted(flags - _help_flags(name) - {"--help", "--flags", "--config"})
            if missing:
                wrong.append(f"emoreason {' '.join(name)}: {', '.join(missing)}")
    assert not wrong, wrong


def test_setup_keeps_two_commands_and_the_cpu_install_meets_the_floors() -> None:
    """`.ci/run` runs the Set up block's two commands; the CPU-only install beside it names versions that the
    pyproject floors allow (issue 27 item 9)."""
    setup = _block_after("## Set up")
    assert _commands(setup) == ['pip install -e ".[dev]"', "pytest"]
    cpu = README[README.index("### CPU only: a smaller install"):]
    cpu = cpu[: cpu.index("\n## ")]
    pins = dict(re.findall(r"\b(torch|torchvision)==([\d.]+)", cpu))
    assert "--index-url https://download.pytorch.org/whl/cpu" in cpu and set(pins) == {"torch", "torchvision"}
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for name, version in pins.items():
        floor = re.search(rf'"{name}>=([\d.]+)"', pyproject).group(1)  # type: ignore[union-attr]
        as_tuple = lambda v: tuple(int(x) for x in v.split("."))  # noqa: E731
        assert as_tuple(version) >= as_tuple(floor), (name, version, floor)
