"""The face expression model: shipped weights, bad model files, crops without landmarks, fusion and its CoT."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from emoreason.cli import app
from emoreason.errors import EmoreasonError
from emoreason.perception import expression
from emoreason.reasoning.fusion import fuse
from emoreason.reasoning.parser import parse_output
from emoreason.reasoning.rules import explain

DATA = Path(__file__).resolve().parents[1] / "data"
SAD = {"sadness": 0.71, "fear": 0.1, "neutral": 0.1, "anger": 0.03, "disgust": 0.02, "happiness": 0.02,
       "surprise": 0.02}  # fmt: skip
ANGRY = {"anger": 0.58, "fear": 0.1, "neutral": 0.2, "sadness": 0.03, "disgust": 0.05, "happiness": 0.02,
         "surprise": 0.02}  # fmt: skip


def test_the_shipped_weights_load_with_their_card_and_read_the_committed_face() -> None:
    model = expression.load_expression_model()
    assert model.labels == expression.EXPRESSION_LABELS and model.path == expression.DEFAULT_WEIGHTS
    card = model.card
    assert card["data"]["select_split"] == "public_test" and card["report"]["n"] == 3589
    assert "fusion" in card and card["fusion"]["fitted_on"] == "public_test"
    crop = np.asarray(Image.open(DATA / "astronaut_face_48.png").convert("L"))
    (probs,) = model.read([crop])
    assert max(probs, key=probs.get) == "happiness" and probs["happiness"] > 0.5  # Eileen Collins smiles
    assert abs(sum(probs.values()) - 1.0) < 1e-3


def test_a_missing_truncated_or_wrong_shaped_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmoreasonError, match="not found"):
        expression.load_expression_model(tmp_path / "nope.safetensors")
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(expression.DEFAULT_WEIGHTS.read_bytes()[:5000])
    with pytest.raises(EmoreasonError, match="truncated"):
        expression.load_expression_model(truncated)
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({k: v for k, v in expression.build_network((8, 16, 32, 64)).state_dict().items()}, str(other))
    with pytest.raises(EmoreasonError, match="do not fit"):
        expression.load_expression_model(other)


def test_analyze_with_a_bad_model_is_a_usage_error_and_none_reads_with_the_rules(face_photo: Path,
                                                                                  tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 100)
    result = CliRunner().invoke(app, ["analyze", str(face_photo), "--expression-model", str(bad)])
    assert result.exit_code == 2 and str(bad) in result.output and "--expression-model none" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["analyze", str(face_photo), "--json", "--expression-model", "none"])
    assert result.exit_code == 0, result.output
    face = json.loads(result.output.strip().splitlines()[-1])["faces"][0]
    assert face["expression"] == {} and face["label"] == "happiness"


def test_analyze_json_carries_the_model_probabilities_and_fused_scores(face_photo: Path) -> None:
    result = CliRunner().invoke(app, ["analyze", str(face_photo), "--json"])
    assert result.exit_code == 0, result.output
    face = json.loads(result.output.strip().splitlines()[-1])["faces"][0]
    assert set(face["expression"]) == set(expression.EXPRESSION_LABELS)
    assert abs(sum(face["scores"].values()) - 1.0) < 0.01 and face["label"] == "happiness"
    assert "Face model: happiness" in face["raw"]


def test_a_grey_thumbnail_without_landmarks_is_read_and_a_blank_one_is_no_face(tmp_path: Path) -> None:
    crop = DATA / "astronaut_face_48.png"
    from emoreason.pipelines.image import analyze_image
    from emoreason.reasoning.rules import RuleReasoner

    pixels = np.asarray(Image.open(crop).convert("L"))
    assert expression.looks_like_face_crop(pixels)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((48, 48), 128, np.uint8)).save(blank)
    assert analyze_image(blank, RuleReasoner()).status == "no_face"
    tiny = tmp_path / "tiny.png"
    Image.fromarray(pixels[::3, ::3]).save(tiny)  # 16x16: too small to be a face crop
    assert not expression.looks_like_face_crop(pixels[::3, ::3])
    big_blank = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (400, 600, 3), dtype=np.uint8)).save(big_blank)
    assert analyze_image(big_blank, RuleReasoner()).status == "no_face"  # a photo with no face is still no_face


def test_fusion_sums_to_one_and_keeps_a_compound_the_aus_show() -> None:
    fused = fuse({"happiness": 0.5, "surprise": 0.4, "happily surprised": 0.6, "neutral": 0.1},
                 "happily surprised", {**{k: 0.02 for k in SAD}, "happiness": 0.88})
    assert fused.label == "happily surprised" and abs(sum(fused.probabilities.values()) - 1) < 1e-3
    alone = fuse(None, None, ANGRY)
    assert alone.label == "anger" and alone.rules_label is None
    rules = fuse({"happiness": 0.6, "neutral": 0.1}, "happiness", None)
    assert rules.label == "happiness" and abs(sum(rules.probabilities.values()) - 1) < 1e-3


def test_the_cot_says_which_channel_decided_and_cites_only_shown_aus() -> None:
    agree = explain({"AU1": 2.6, "AU15": 2.0, "AU4": 1.5}, expression=SAD, label_set="basic")
    assert agree.label == "sadness" and "The face model reads sadness (0.71), and the action units agree" in agree.text
    assert set(parse_output(agree.text).aus) <= {"AU1", "AU15", "AU4"}
    still = explain({}, expression=ANGRY, label_set="basic", fusion_card={"temperature": 0.5, "rules_weight": 0.1})
    assert still.label == "anger"
    assert "The action units alone look neutral; the face model's anger, 0.58, decides, so the reading is uncertain" \
        in still.text
    assert parse_output(still.text).aus == []  # no AU is cited that the face does not show
    crop = explain({}, expression=ANGRY, quality=["no_landmarks"], quality_text="No face landmarks were found.")
    assert crop.label == "anger" and "the face model alone reads anger (0.58)" in crop.text
    assert "the face is relaxed" not in crop.text and crop.rules_label is None


def test_serve_refuses_a_bad_expression_model_before_starting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 10)
    result = CliRunner().invoke(app, ["serve", "--expression-model", str(bad), "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 2 and str(bad) in result.output and "Traceback" not in result.output


def test_the_inference_network_folds_batch_norm_and_flips_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loaded network (batch norm folded into the convs, one 2N pass for the mirror) gives the logits of the
    trained network read the plain way, image and mirror separately."""
    import torch
    from safetensors.torch import load_file

    monkeypatch.setenv(expression.ENV_INT8, "0")
    model = expression.load_expression_model()
    assert model.precision == "float32"
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.network)
    plain = expression.build_network()
    plain.load_state_dict({k: v for k, v in load_file(str(model.path)).items() if k != "bias_offsets"})
    plain.eval()
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, size=(3, 48, 48), dtype=np.uint8)
    crops[0] = np.asarray(Image.open(DATA / "astronaut_face_48.png").convert("L"))
    x = expression.standardize(torch.from_numpy(crops.astype(np.float32)).unsqueeze(1))
    with torch.inference_mode():
        expected = ((plain(x) + plain(torch.flip(x, dims=[3]))) / 2).numpy()
    assert np.allclose(model.logits(crops), expected, atol=1e-4)
    assert torch.get_num_threads() >= 1  # the one-thread section restores the setting


def test_the_shipped_model_runs_in_int8_from_its_card_and_reads_as_float32_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where torch has a quantized CPU engine the card's int8 ranges give an int8 network whose probabilities stay
    within a few points of the float32 network's; ranges that do not fit the network fall back to float32."""

    if expression._int8_engine() is None:
        pytest.skip("this torch has no quantized CPU engine")
    int8 = expression.load_expression_model()
    assert int8.precision == "int8" and set(int8.card["int8"]["ranges"])
    monkeypatch.setenv(expression.ENV_INT8, "0")
    full = expression.load_expression_model()
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, size=(4, 48, 48), dtype=np.uint8)
    crops[0] = np.asarray(Image.open(DATA / "astronaut_face_48.png").convert("L"))
    a, b = int8.probabilities(crops), full.probabilities(crops)
    assert np.abs(a - b).max() < 0.05 and a[0].argmax() == b[0].argmax()
    broken = {"ranges": {"1": [0.0, 1.0]}}
    assert expression.int8_network(full.network, broken) is None


def test_int8_near_ties_are_read_again_in_float32_and_wider_margins_keep_the_float32_label(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A crop whose int8 top-two gap is under the card's tie margin gets the float32 network's probabilities
    exactly; a wider one keeps int8's, whose top class is float32's. The margin is twice the largest probability
    change the recipe measured on its calibration crops."""
    if expression._int8_engine() is None:
        pytest.skip("this torch has no quantized CPU engine")
    from dataclasses import replace

    model = expression.load_expression_model()
    block = model.card["int8"]
    assert model.exact is not None and model.tie_margin == block["tie_margin"] > 0
    assert model.tie_margin >= 2 * block["max_probability_change"]
    monkeypatch.setenv(expression.ENV_INT8, "0")
    full = expression.load_expression_model()
    plain = replace(model, tie_margin=0.0)  # int8 alone
    rng = np.random.default_rng(1)
    face = np.asarray(Image.open(DATA / "astronaut_face_48.png").convert("L")).astype(np.float32)
    # the smiling face blended with noise and blurred shades: readings from clear to near-tied
    crops = np.stack([(face * a + rng.normal(128, 60, face.shape) * (1 - a)).clip(0, 255).astype(np.uint8)
                      for a in np.linspace(0.0, 1.0, 48)])
    got, exact, approx = model.probabilities(crops), full.probabilities(crops), plain.probabilities(crops)
    top = np.sort(approx, axis=1)
    near = top[:, -1] - top[:, -2] < model.tie_margin
    assert near.any() and (~near).any()
    assert np.allclose(got[near], exact[near], atol=1e-5) and np.array_equal(got[~near], approx[~near])
    assert np.array_equal(got.argmax(axis=1), exact.argmax(axis=1))
    assert expression.int8_tie_margin(full.network, {"ranges": {"1": [0.0, 1.0]}}, crops, model.bias) == {}


def test_analyze_reads_the_same_with_the_first_pass_read_ahead(face_photo: Path) -> None:
    """analyze searches and reads the next photos in two read-ahead threads, each with a detector and landmarker
    of its own (the second photo of three goes to the second thread); the readings are the same as perceiving the
    photo on its own."""
    from emoreason.pipelines.image import ImageOptions, analyze_paths, perceive_image
    from emoreason.reasoning.rules import RuleReasoner

    (alone,) = perceive_image(face_photo, ImageOptions())
    results = list(analyze_paths([face_photo] * 3, RuleReasoner(), ImageOptions()))
    for result in results:
        (face,) = result.faces
        assert face.aus == alone.aus and face.expression == alone.expression
        assert face.box == alone.box
    from emoreason.perception import faces

    first, second = faces.search_models(None, 0), faces.search_models(None, 1)
    assert first == (faces.get_face_detector(), faces.get_landmarker(2)) and faces.search_models(None, 1) is second
    assert not set(map(id, first)) & set(map(id, second))
