"""Each source adapter against a small replica of its official layout, plus its layout and label errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import replicas

from emoreason.data_builders.base import Context, Sample, Skip, SkipSample
from emoreason.data_builders.registry import SOURCES, get_source
from emoreason.errors import EmoreasonError


def items(name: str, root: Path, **kw: object) -> tuple[dict[str, Sample], list[Skip]]:
    ctx = Context(root, **kw)  # type: ignore[arg-type]
    out = list(get_source(name).iter_samples(ctx))
    samples = {s.id: s for s in out if isinstance(s, Sample)}
    return samples, [s for s in out if isinstance(s, Skip)]


def test_registry_lists_every_issue_source() -> None:
    assert list(SOURCES) == ["rafdb", "rafdb-compound", "fer2013", "ferplus", "affectnet", "ckplus", "disfa",
                             "bp4d", "dfew", "mafw", "emer", "manifest", "folders"]  # fmt: skip
    with pytest.raises(EmoreasonError, match="choose one of: rafdb, rafdb-compound"):
        get_source("raf")


def test_rafdb_basic_labels_splits_attributes(tmp_path: Path) -> None:
    samples, skips = items("rafdb", replicas.rafdb(tmp_path))
    assert not skips
    s = samples["rafdb-train_00001"]
    assert (s.split, s.label, s.labels) == ("train", "happiness", ["happiness"])  # 4 = Happiness
    assert s.images[0].endswith("Image/aligned/train_00001_aligned.jpg")
    assert (s.meta["gender"], s.meta["race"], s.meta["age"]) == ("male", "Caucasian", "0-3")
    assert samples["rafdb-train_00002"].label == "surprise"  # 1
    assert samples["rafdb-train_00003"].label == "neutral"  # 7
    assert samples["rafdb-test_00001"].label == "sadness"  # 5
    t = samples["rafdb-test_00002"]
    assert (t.split, t.label, t.meta["gender"], t.meta["age"]) == ("test", "anger", "female", "70+")  # 6


def test_rafdb_root_may_be_the_subset_folder_and_originals_are_used_without_aligned(tmp_path: Path) -> None:
    root = replicas.rafdb(tmp_path)
    for p in (root / "basic" / "Image" / "aligned").iterdir():
        p.unlink()
    samples, _ = items("rafdb", root / "basic")
    assert samples["rafdb-train_00001"].images[0].endswith("Image/original/train_00001.jpg")


def test_rafdb_compound_numbering(tmp_path: Path) -> None:
    labels = {f"train_{i:04d}.jpg": i for i in range(1, 12)}
    samples, _ = items("rafdb-compound", replicas.rafdb(tmp_path, "compound", labels))
    got = [samples[f"rafdb-compound-train_{i:04d}"].label for i in range(1, 12)]
    assert got == ["happily surprised", "happily disgusted", "sadly fearful", "sadly angry", "sadly surprised",
                   "sadly disgusted", "fearfully angry", "fearfully surprised", "angrily surprised",
                   "angrily disgusted", "disgustedly surprised"]  # fmt: skip


def test_rafdb_unknown_label_is_a_skip_naming_file_and_line(tmp_path: Path) -> None:
    root = replicas.rafdb(tmp_path, labels={"train_00001.jpg": 4, "train_00002.jpg": 9, "test_00001.jpg": 1})
    samples, skips = items("rafdb", root)  # the adapter goes on past the bad line
    assert set(samples) == {"rafdb-train_00001", "rafdb-test_00001"}
    assert [(s.id, s.reason) for s in skips] == [("rafdb-train_00002", "unknown label")]
    assert "list_patition_label.txt, line 2: unknown rafdb label '9'" in skips[0].detail


def test_rafdb_unknown_layout(tmp_path: Path) -> None:
    with pytest.raises(EmoreasonError, match="not a RAF-DB basic layout; expected .*list_patition_label.txt"):
        items("rafdb", tmp_path)


def test_fer2013_rows_pixels_and_usage(tmp_path: Path) -> None:
    root = replicas.fer2013(tmp_path)
    samples, _ = items("fer2013", root)
    assert [(s.id, s.split, s.label) for s in samples.values()] == [
        ("fer0000000", "train", "happiness"), ("fer0000001", "train", "anger"),
        ("fer0000002", "public_test", "neutral"), ("fer0000003", "private_test", "sadness"),
    ]  # fmt: skip
    paths, frames = samples["fer0000000"].make_images(tmp_path / "out")  # type: ignore[misc]
    from PIL import Image

    with Image.open(paths[0]) as im:
        assert im.size == (48, 48) and im.mode == "L" and frames == []


def test_fer2013_bad_pixels_is_a_corrupt_image_and_wrong_columns_name_expected(tmp_path: Path) -> None:
    replicas.write_csv(tmp_path / "fer2013.csv", ["emotion", "pixels", "Usage"], [[3, "1 2 3", "Training"]])
    samples, _ = items("fer2013", tmp_path)
    with pytest.raises(SkipSample, match="corrupt image"):
        samples["fer0000000"].make_images(tmp_path / "out")  # type: ignore[misc]
    replicas.write_csv(tmp_path / "fer2013.csv", ["label", "pixels"], [[3, "1"]])
    with pytest.raises(EmoreasonError, match="expected emotion, pixels, Usage"):
        items("fer2013", tmp_path)


def test_ferplus_majority_mode_soft_and_multi_labels(tmp_path: Path) -> None:
    samples, skips = items("ferplus", replicas.ferplus(tmp_path))
    assert {s.id: s.reason for s in skips} == {
        "fer0000000": "FER+ no majority label",
        "fer0000003": "dropped by FER+ (empty Image name)",
        "fer0000004": "FER+ majority is NF",
    }
    assert samples["fer0000001"].label == "neutral" and samples["fer0000001"].split == "train"
    happy = samples["fer0000002"]
    assert happy.labels == ["happiness", "surprise"] and happy.meta["soft_labels"]["happiness"] == pytest.approx(0.7)
    assert happy.images[0].endswith("FER2013Train/fer0000002.png")
    contempt = samples["fer0000005"]
    assert (contempt.label, contempt.split, contempt.meta["votes"]["unknown"]) == ("contempt", "test", 1.0)


def test_affectnet_labels_valence_arousal_and_non_emotions(tmp_path: Path) -> None:
    samples, skips = items("affectnet", replicas.affectnet(tmp_path))
    assert [(s.id, s.reason) for s in skips] == [("affectnet-12_b1", "no emotion (No-Face)")]
    a = samples["affectnet-689_a1"]
    assert (a.label, a.split, a.meta["valence"], a.meta["arousal"]) == ("happiness", "train", 0.8, 0.4)
    assert a.images[0].endswith("Manually_Annotated_Images/689/a1.jpg")
    assert samples["affectnet-689_a2"].label == "contempt"
    assert samples["affectnet-3_c1"].split == "validation" and samples["affectnet-3_c1"].label == "sadness"


def test_ckplus_emotion_and_facs(tmp_path: Path) -> None:
    samples, skips = items("ckplus", replicas.ckplus(tmp_path))
    assert [(s.id, s.reason) for s in skips] == [("ckplus-S011_001", "no emotion file")]
    d = samples["ckplus-S005_001_00000011"]
    assert d.label == "disgust" and d.images[0].endswith("cohn-kanade-images/S005/001/S005_001_00000011.png")
    assert d.aus == {"AU9": 4.0, "AU17": 3.0, "AU25": 2.0} and d.meta["aus_unspecified"] == ["AU17"]
    assert samples["ckplus-S010_002_00000014"].label == "happiness"


def test_disfa_intensities_frames_and_rule_labels(tmp_path: Path) -> None:
    samples, _ = items("disfa", replicas.disfa(tmp_path), frame_stride=5)
    assert list(samples) == ["disfa-SN001-00001", "disfa-SN001-00006", "disfa-SN001-00011"]
    smile = samples["disfa-SN001-00006"]
    assert smile.aus["AU12"] == 3.0 and smile.aus["AU1"] == 0.0 and len(smile.aus) == 12
    assert smile.label == "happiness" and smile.meta["label_source"] == "rules"
    assert samples["disfa-SN001-00001"].label == "neutral"
    paths, frames = smile.make_images(tmp_path / "out")  # type: ignore[misc]
    assert frames == [5] and Path(paths[0]).is_file()
    assert len(list((tmp_path / "out" / "images" / "disfa" / "SN001").glob("*.jpg"))) == 3  # one decode pass


def test_bp4d_occurrence_codes(tmp_path: Path) -> None:
    samples, _ = items("bp4d", replicas.bp4d(tmp_path), frame_stride=1)
    s = samples["bp4d-F001-T1-00003"]
    assert s.aus["AU6"] == 3.0 and s.aus["AU12"] == 3.0 and s.aus["AU1"] == 0.0 and "AU24" not in s.aus
    assert s.label == "happiness" and s.meta["task_emotion"] == "happiness/amusement"
    assert s.images[0].endswith("Sequences/F001/T1/0003.jpg")


def test_bp4d_bad_code_names_the_line(tmp_path: Path) -> None:
    replicas.write_csv(tmp_path / "AUCoding" / "AU_OCC" / "F001_T2.csv", ["0", "1", "2"], [[1, 0, 0], [2, 0, 7]])
    with pytest.raises(EmoreasonError, match=r"F001_T2.csv, line 3: occurrence codes must be 0, 1 or 9"):
        items("bp4d", tmp_path)


def test_dfew_fold_files_frame_folders_and_original_clips(tmp_path: Path) -> None:
    samples, _ = items("dfew", replicas.dfew(tmp_path), frames_per_clip=3)
    assert {k: (s.split, s.label) for k, s in samples.items()} == {
        "dfew-00001": ("train", "happiness"), "dfew-00002": ("train", "anger"), "dfew-00003": ("train", "fear"),
        "dfew-00004": ("test", "sadness"),
    }  # fmt: skip
    paths, frames = samples["dfew-00001"].make_images(tmp_path / "out")  # type: ignore[misc]
    assert len(paths) == 3 and frames == [1, 4, 6] and "clip_224x224/00001" in paths[0]
    paths, frames = samples["dfew-00003"].make_images(tmp_path / "out")  # type: ignore[misc]
    assert len(paths) == 3 and all(Path(p).is_file() for p in paths) and "out/images/dfew/00003" in paths[0]
    with pytest.raises(EmoreasonError, match="DFEW has folds 1..5"):
        items("dfew", tmp_path, options={"fold": 7})


def test_mafw_open_vocabulary_classes(tmp_path: Path) -> None:
    samples, _ = items("mafw", replicas.mafw(tmp_path), frames_per_clip=2)
    assert (samples["mafw-00001"].label, samples["mafw-00001"].labels) == ("anger", ["anger"])
    anxiety = samples["mafw-00002"]
    assert (anxiety.label, anxiety.labels, anxiety.split) == (None, ["anxiety"], "train")
    assert samples["mafw-00003"].split == "test"
    paths, frames = anxiety.make_images(tmp_path / "out")  # type: ignore[misc]
    assert len(paths) == 2 and frames == [2, 6]


def test_mafw_readme_label_file_with_descriptions(tmp_path: Path) -> None:
    (tmp_path / "Labels").mkdir()
    line = "03747.mp4\tanger\t<br>一个男人激动地说话。\t<br> A man speaks excitedly. The deep frown.\n"
    (tmp_path / "Labels" / "single_label.txt").write_text(line + "03748.mp4  boredom  <br>x <br> y\n")
    samples, skips = items("mafw", tmp_path)
    assert [(s.id, s.reason) for s in skips] == [("mafw-03748", "unknown label")]
    assert "single_label.txt, line 2: unknown mafw label 'boredom'" in skips[0].detail
    assert samples["mafw-03747"].explanation == "A man speaks excitedly. The deep frown."


def test_emer_transcript_explanation_and_worry(tmp_path: Path) -> None:
    samples, _ = items("emer", replicas.emer(tmp_path), frames_per_clip=2)
    happy = samples["emer-sample_00000001"]
    assert (happy.label, happy.split, happy.transcript) == ("happiness", "test", "I can't believe we won!")
    assert happy.explanation.startswith("The person smiles")
    assert (samples["emer-sample_00000002"].label, samples["emer-sample_00000002"].labels) == (None, ["worry"])


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_manifest_csv_and_jsonl(tmp_path: Path, fmt: str) -> None:
    path = replicas.manifest(tmp_path, fmt)
    samples, _ = items("manifest", path)
    a = samples["faces_a"]
    assert (a.label, a.aus, a.transcript) == ("happiness", {"AU6": 2.5, "AU12": 3.2}, "yay")
    assert samples["faces_b"].label == "sadness" and Path(a.images[0]).is_file()


def test_manifest_bad_lines_are_skips_naming_the_line_and_layout_errors_stop(tmp_path: Path) -> None:
    bad = tmp_path / "m.jsonl"
    lines = [{"path": "a.png", "label": "happy", "face_box": [1, 2, 3, 4], "aligned": "true"},
             {"path": "b.png", "label": "blorp"}, {"path": "", "label": "sad"}]  # fmt: skip
    bad.write_text("".join(json.dumps(line) + "\n" for line in lines))
    samples, skips = items("manifest", bad)
    assert samples["a"].meta["face_box"] == [1.0, 2.0, 3.0, 4.0] and samples["a"].aligned
    assert [(s.id, s.reason) for s in skips] == [("b", "unknown label"), ("line3", "missing path")]
    assert "m.jsonl, line 2: unknown label 'blorp'" in skips[0].detail and "line 3" in skips[1].detail
    wrong = replicas.write_csv(tmp_path / "m.csv", ["file", "emotion"], [["a.png", "happy"]])
    with pytest.raises(EmoreasonError, match="expected path, label"):
        items("manifest", wrong)


def test_docstring_examples() -> None:
    import doctest

    from emoreason.data_builders import ferplus

    result = doctest.testmod(ferplus)
    assert result.attempted > 0 and result.failed == 0
