"""Issue 27 item 8: the commands' help and flags agree: one --max-faces default, --top-p wherever a model samples,
dash or underscore flags in train and synth, a folder for analyze as for caption, a fast `train sft --help`, and a
video's OpenFace CSV applied to a photo is said."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emoreason.cli import app

runner = CliRunner()


def _help(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def test_max_faces_has_one_default_everywhere() -> None:
    from emoreason.chat.session import MAX_FACES as chat_default
    from emoreason.pipelines import MAX_FACES
    from emoreason.pipelines.video_options import VideoOptions
    from emoreason.serve.limits import ServeLimits

    defaults = {}
    for command in ("analyze", "caption", "chat", "serve"):
        match = re.search(r"--max-faces \S+.*?\[default:\s*(\d+)", _help(command), re.S)
        assert match, f"{command} has no --max-faces"
        defaults[command] = int(match.group(1))
    assert set(defaults.values()) == {MAX_FACES}, defaults  # was analyze 10, caption 4, serve 16
    assert VideoOptions().num_faces == ServeLimits().max_faces == chat_default == MAX_FACES


@pytest.mark.parametrize("command", ["analyze", "caption", "chat", "serve"])
def test_sampling_options_are_the_same_everywhere(command: str) -> None:
    text = _help(command)
    for flag in ("--temperature", "--top-p", "--max-new-tokens", "--backend", "--model", "--label-set"):
        assert flag in text, f"{command} lacks {flag}"  # analyze had no --top-p


def test_train_and_synth_take_dash_and_underscore_flags() -> None:
    from emoreason.train.config import parse_config

    dashes = parse_config("sft", ["--model-name-or-path", "m", "--dataset-path", "d", "--max-steps", "2",
                                  "--output-dir", "o", "--report-to", "none"])  # fmt: skip
    unders = parse_config("sft", ["--model_name_or_path", "m", "--dataset_path", "d", "--max_steps", "2",
                                  "--output_dir", "o", "--report_to", "none"])  # fmt: skip
    assert (dashes.model_name_or_path, dashes.dataset_path, dashes.max_steps) == ("m", "d", 2)
    assert (unders.model_name_or_path, unders.max_steps) == (dashes.model_name_or_path, dashes.max_steps)
    from emoreason.train.config import _Parser
    from emoreason.train.synth import SynthConfig

    (synth,) = _Parser(dataclass_types=[SynthConfig]).parse_args_and_config(["--num-candidates", "3"])
    assert synth.num_candidates == 3


def test_analyze_reads_a_folder_like_caption(face_photo: Path, no_face_photo: Path, tmp_path: Path) -> None:
    """`analyze .` refused a folder that `caption` takes."""
    import json
    import shutil

    (tmp_path / "sub").mkdir()
    shutil.copy(face_photo, tmp_path / "b.jpg")
    shutil.copy(no_face_photo, tmp_path / "sub" / "a.png")
    (tmp_path / "notes.txt").write_text("not a photo: left out")
    result = runner.invoke(app, ["analyze", str(tmp_path), "--json", "--expression-model", "none"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["path"]).relative_to(tmp_path).as_posix() for r in records] == ["b.jpg", "sub/a.png"]
    assert [r["status"] for r in records] == ["ok", "no_face"]


def test_train_sft_help_is_fast() -> None:
    """`train sft --help` took 7 s: it must not import torch or TRL."""
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom emoreason.cli import app\n"
            "r = CliRunner().invoke(app, ['train', 'sft', '--help'])\n"
            "assert r.exit_code == 0 and '--flags' in r.output, r.output\n"
            "heavy = [m for m in ('torch', 'trl', 'transformers') if m in sys.modules]\n"
            "assert not heavy, heavy\n")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_videos_openface_csv_on_a_photo_is_said(
    face_photo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from emoreason.pipelines.image import ImageOptions, perceive_image
    from emoreason.testing.openface_csv import write_csv

    rows = [({"frame": f, "face_id": 0, "timestamp": f / 25, "confidence": 0.97, "success": 1,
              "cx": 225.0, "cy": 125.0},
             {12: 1.0 + f / 100}, {12}) for f in range(1, 101)]  # fmt: skip
    csv = write_csv(tmp_path / "clip.csv", "sequence", rows)
    options = ImageOptions(au_source="openface", openface_csv=csv, expression_model="none")
    with caplog.at_level(logging.WARNING, logger="emoreason.pipelines.image"):
        faces = perceive_image(face_photo, options)
    assert faces and faces[0].aus.get("AU12") == pytest.approx(1.01)
    said = [r.getMessage() for r in caplog.records if "frames" in r.getMessage()]
    assert len(said) == 1 and "has 100 frames" in said[0] and "takes frame 1's AUs" in said[0]
