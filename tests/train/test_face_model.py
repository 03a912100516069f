"""`emoreason train face-model` end to end on a few dozen generated faces, and its bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from emoreason.cli import app
from emoreason.errors import EmoreasonError
from emoreason.perception.expression import EXPRESSION_LABELS, load_expression_model
from emoreason.testing.media import _face_variant
from emoreason.train.face_model import FaceModelConfig, choose_offsets, load_corpus, scores, train_face_model

FOLDERS = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy", "sadness": "sad",
           "surprise": "surprise", "neutral": "neutral"}  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FER2013-style class folders: 7 classes of generated 48x48 grey faces (the astronaut at 7 expression levels,
    shifted and noised), 4 train / 2 PublicTest / 2 PrivateTest each, plus an unknown label, an empty class and an
    unreadable file."""
    root = tmp_path_factory.mktemp("fer_like")
    rng = np.random.default_rng(0)
    for level, label in enumerate(EXPRESSION_LABELS):
        base = np.asarray(Image.fromarray(_face_variant(level, 7, 56)).convert("L"), dtype=np.float32)
        for split, count in (("Training", 4), ("PublicTest", 2), ("PrivateTest", 2)):
            folder = root / split / FOLDERS[label]
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                dx, dy = rng.integers(0, 8, size=2)
                crop = base[dy : dy + 48, dx : dx + 48] + rng.normal(0, 6, (48, 48))
                Image.fromarray(crop.clip(0, 255).astype(np.uint8), mode="L").save(folder / f"{split}_{level}{i}.jpg")
    (root / "Training" / "bored").mkdir()  # a label the normaliser does not know: counted per image
    Image.fromarray(np.full((48, 48), 90, np.uint8)).save(root / "Training" / "bored" / "x.jpg")
    (root / "PublicTest" / "contempt").mkdir()  # an empty class folder: nothing to count, no crash
    (root / "Training" / "sad" / "broken.jpg").write_bytes(b"not a jpeg")
    return root


def test_training_runs_end_to_end_and_the_card_counts_what_was_skipped(corpus: Path, tmp_path: Path) -> None:
    config = FaceModelConfig(data=str(corpus), out=str(tmp_path / "fm"), epochs=2, batch_size=16, eval_every=1)
    weights = train_face_model(config)
    card = json.loads(weights.with_name("expression.card.json").read_text())
    assert card["data"]["train"] == 28 and card["data"]["select_split"] == "public_test"
    assert card["data"]["report_split"] == "private_test"
    assert card["data"]["skipped"] == {"train: unknown label": 1, "train: unreadable image": 1}
    assert set(card["select"]["with_offsets"]["recall"]) == set(EXPRESSION_LABELS)
    assert card["report"]["n"] == 14 and "once" in card["report"]["note"]
    # the fusion was fitted on PublicTest through the pipeline and PrivateTest read once, every channel scored
    assert card["fusion"]["fitted_on"] == "public_test" and card["fusion"]["n"] == 14
    assert set(card["pipeline"]) == {"public_test", "private_test"}
    assert set(card["pipeline"]["private_test"]["fused"]) >= {"war", "uar", "recall", "confusion", "no_reading"}
    assert card["terms"] and "Not for decisions" in card["out_of_scope"]
    assert card["int8"]["split"] == "train" and card["int8"]["crops"] == 28  # ranges from the training crops
    # on the same crops: how far int8 strays, and the gap under which inference reads again in float32
    change, margin = card["int8"]["max_probability_change"], card["int8"]["tie_margin"]
    assert 0.0 <= change <= 1.0 and margin >= 2 * change and margin - 2 * change < 0.01 + 1e-9
    model = load_expression_model(weights)
    probs = model.read([np.zeros((48, 48), np.uint8) + 128])[0]
    assert set(probs) == set(EXPRESSION_LABELS) and abs(sum(probs.values()) - 1.0) < 1e-3
    log = [json.loads(line) for line in (tmp_path / "fm" / "train_log.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in log] == [1, 2]


def test_cli_trains_and_says_how_to_use_the_model(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app, ["train", "face-model", "--data", str(corpus), "--out", str(out), "--epochs", "1", "--no-fit-fusion"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "expression.safetensors").is_file() and "--expression-model" in result.output


def test_a_folder_with_no_images_or_no_train_split_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "happy").mkdir(parents=True)
    with pytest.raises(EmoreasonError, match="no images"):
        load_corpus(tmp_path / "empty")
    only_test = tmp_path / "only_test" / "PrivateTest" / "happy"
    only_test.mkdir(parents=True)
    Image.fromarray(np.full((48, 48), 100, np.uint8)).save(only_test / "a.jpg")
    with pytest.raises(EmoreasonError, match="no train split"):
        load_corpus(tmp_path / "only_test")
    with pytest.raises(EmoreasonError, match="not found"):
        load_corpus(tmp_path / "nowhere")


def test_a_flat_label_layout_holds_out_a_selection_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for label in ("happy", "sad"):
        (tmp_path / label).mkdir()
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (48, 48), dtype=np.uint8)).save(tmp_path / label / f"{i}.png")
    corpus = load_corpus(tmp_path)
    assert set(corpus.splits) == {"train"} and len(corpus.splits["train"][1]) == 20
    from emoreason.train.face_model import _select_split

    assert _select_split(corpus, 0) == "validation"
    assert len(corpus.splits["validation"][1]) == 2 and len(corpus.splits["train"][1]) == 18
    assert len(corpus.paths["validation"]) == 2


def test_the_offsets_keep_every_class_above_the_floor_when_they_can() -> None:
    # a model that never says class 1 unless pushed: the offsets chosen on the selection split bring it back
    truth = np.array([0] * 50 + [1] * 10)
    logits = np.zeros((60, 7))
    logits[:, 0] = 1.0
    logits[50:, 1] = 0.8
    prior = np.array([0.8, 0.05, 0.03, 0.03, 0.03, 0.03, 0.03])
    before = scores(truth, logits.argmax(axis=1))
    tau, offsets = choose_offsets(logits, truth, prior)
    after = scores(truth, (logits + offsets).argmax(axis=1))
    assert before["recall"]["disgust"] == 0.0 and after["recall"]["disgust"] >= 0.4 and tau > 0


def test_scores_count_no_reading_as_wrong_and_out_of_the_confusion() -> None:
    truth = np.array([0, 0, 1, 1])
    pred = np.array([0, -1, 1, 0])
    result = scores(truth, pred, ("a", "b"))
    assert result["war"] == 0.5 and result["no_reading"] == 1
    assert result["recall"] == {"a": 0.5, "b": 0.5} and result["confusion"] == [[1, 0], [1, 1]]


def test_a_fer2013_folder_copy_gets_fer2013_terms_on_its_card(tmp_path: Path) -> None:
    from emoreason.data_builders.fer2013 import LICENSE as FER2013_LICENSE
    from emoreason.data_builders.folders import LICENSE, license_of

    for split in ("Training", "PublicTest", "PrivateTest"):
        (tmp_path / "fer" / split / "happy").mkdir(parents=True)
    (tmp_path / "mine" / "train" / "happy").mkdir(parents=True)
    assert license_of(tmp_path / "fer") == FER2013_LICENSE
    assert license_of(tmp_path / "mine") == LICENSE


def test_the_corpus_benchmark_scores_a_split_through_analyze(corpus: Path, capsys: pytest.CaptureFixture) -> None:
    """benchmarks/accuracy.py --data: rules, model and fused rows from one analyze pass, scored by the one scoring;
    without the peer venv the fer rows are left out with a line saying so."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import corpus_accuracy

    out = corpus.parent / "acc.json"
    assert corpus_accuracy.run(str(corpus), "private_test", None, None, corpus.parent / "no-venv", str(out)) == 0
    printed = capsys.readouterr().out
    assert "14 images" in printed and "fer: skipped" in printed
    rows = json.loads(out.read_text())["rows"]
    assert [r["system"] for r in rows] == ["emoreason rules only", "emoreason face model only",
                                           "emoreason fused (analyze)"]
    assert all(r["n"] == 14 and sum(map(sum, r["confusion"])) + r["no_reading"] <= 14 for r in rows)
    assert "ece" in rows[2]
