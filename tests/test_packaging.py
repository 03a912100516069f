"""Packaging contracts (docs/architecture.md): the top-level folders install under the emoreason namespace, prompts
ship as package data, heavy and GPU-only parts are extras, `emoreason --help` imports no heavy library, and the
tree passes ruff."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_top_level_folders_install_under_the_emoreason_namespace() -> None:
    import emoreason.data_builders
    import emoreason.eval

    assert Path(emoreason.eval.__file__).parent == ROOT / "eval"
    assert Path(emoreason.data_builders.__file__).parent == ROOT / "data_builders"
    probe = "import importlib.util, sys; sys.path = [p for p in sys.path if p not in ('', '.')]; "
    probe += "print(importlib.util.find_spec('eval'), importlib.util.find_spec('data_builders'))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd="/", check=True)
    assert out.stdout.split() == ["None", "None"]  # no package named eval or data_builders in site-packages


def test_prompts_ship_as_package_data() -> None:
    names = {p.name for p in resources.files("emoreason.prompts").iterdir()}
    assert {"system_v1.txt", "user_v1.jinja", "teacher_v1.jinja"} <= names
    assert resources.files("emoreason.serve").joinpath("index.html").is_file()


def test_extras_hold_the_gpu_scale_and_serving_parts() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = {name: " ".join(deps) for name, deps in project["optional-dependencies"].items()}
    core = " ".join(project["dependencies"])
    assert "bitsandbytes" in extras["gpu"] and "vllm" in extras["gpu"] and "ray" in extras["scale"]
    assert "fastapi" in extras["serve"] and "uvicorn" in extras["serve"]
    for heavy in ("bitsandbytes", "vllm", "deepspeed", "ray", "fastapi", "uvicorn"):
        assert heavy not in core
    for needed in ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "openai-whisper", "mediapipe"):
        assert needed in core


def test_help_imports_no_heavy_library() -> None:
    code = "import sys; from emoreason.cli import app; print(sorted(m for m in sys.modules if m.split('.')[0] in "
    code += "{'torch', 'transformers', 'mediapipe', 'whisper', 'ray', 'trl', 'datasets', 'fastapi'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert importlib.util.find_spec("emoreason.cli") is not None


def test_the_tree_passes_ruff() -> None:
    """The lint rules of pyproject.toml ([tool.ruff]) hold for the whole tree, so a lint slip fails CI, not a
    reviewer's eye. ruff comes with the dev extra."""
    ruff = Path(sys.executable).with_name("ruff")
    command = [str(ruff)] if ruff.is_file() else [sys.executable, "-m", "ruff"]
    done = subprocess.run([*command, "check", "--no-cache", str(ROOT)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
