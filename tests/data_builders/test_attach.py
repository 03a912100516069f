"""AU attachment in a real build: the built-in blendshape estimator on a real face, and an OpenFace CSV folder."""

from __future__ import annotations

from pathlib import Path

import replicas

from emoreason.data_builders.build import BuildConfig, build
from emoreason.facs import coerce_aus, present
from emoreason.reasoning.parser import parse_output
from emoreason.testing.openface_csv import write_csv


def _rows(out: Path) -> dict[str, dict]:
    from datasets import load_from_disk

    data = load_from_disk(str(out))
    return {row["id"]: row for split in data.values() for row in split}


def test_blendshape_estimator_reads_a_real_face_and_no_face_rows_never_become_training_rows(tmp_path: Path) -> None:
    root = replicas.rafdb(tmp_path / "raf")  # solid-colour images, no face ...
    replicas.astronaut_crop(root / "basic" / "Image" / "aligned" / "train_00001_aligned.jpg", size=100)  # ... but one
    summary = build(BuildConfig("rafdb", root, tmp_path / "out"))  # --au-source auto: no corpus AUs -> blendshapes
    assert summary.rows == {"train": 1} and summary.au_coverage == 1.0
    assert summary.skipped == {"no face": 4} and not summary.failed  # no face is counted, and is not broken input
    rows = _rows(tmp_path / "out")
    smiling = rows["rafdb-train_00001"]
    aus = coerce_aus(smiling["aus"])
    assert smiling["meta"]["au_source"] == "blendshapes" and 12 in present(aus)  # the astronaut smiles
    assert "AU12" in parse_output(smiling["cot"]).aus  # the CoT cites what the estimator saw
    assert smiling["meta"]["face_rule"] == "aligned crop" and smiling["meta"]["face_count"] == 1
    assert set(rows) == {"rafdb-train_00001"}  # no "relaxed face" CoT for a photo with no face
    skipped = (tmp_path / "out" / ".work" / "skipped.jsonl").read_text()
    assert skipped.count('"reason": "no face"') == 4 and '"label": "sadness"' in skipped  # counted per label


def test_openface_csv_folder_gives_the_most_confident_face(tmp_path: Path) -> None:
    root = replicas.rafdb(tmp_path / "raf")
    csvs = tmp_path / "openface"
    csvs.mkdir()
    write_csv(csvs / "train_00001_aligned.csv", "sequence", [
        ({"frame": 1, "face_id": 0, "timestamp": 0, "confidence": 0.80, "success": 1}, {4: 2.0, 7: 1.5}, {4, 7}),
        ({"frame": 1, "face_id": 1, "timestamp": 0, "confidence": 0.98, "success": 1}, {6: 2.5, 12: 3.0}, {6, 12}),
    ])  # fmt: skip
    write_csv(csvs / "test_00002_aligned.csv", "image", [({"face": 0, "confidence": 0.9}, {1: 2.0, 15: 2.5}, {1, 15})])
    summary = build(BuildConfig("rafdb", root, tmp_path / "out", openface=csvs))
    assert summary.au_coverage == 0.4
    rows = _rows(tmp_path / "out")
    first = rows["rafdb-train_00001"]
    assert first["meta"]["au_source"] == "openface"
    assert {k: v for k, v in coerce_aus(first["aus"]).items() if v} == {"AU6": 2.5, "AU12": 3.0}
    assert set(parse_output(first["cot"]).aus) == {"AU6", "AU12"}
    assert {k: v for k, v in coerce_aus(rows["rafdb-test_00002"]["aus"]).items() if v} == {"AU1": 2.0, "AU15": 2.5}
    assert rows["rafdb-train_00002"]["meta"]["au_source"] == "none: no OpenFace CSV"
    assert rows["rafdb-train_00002"]["meta"]["evidence"] == "unchecked"  # no AUs: nothing to check
    assert "the label comes from the annotation" in rows["rafdb-train_00002"]["cot"]


def test_openface_csv_with_no_successful_frame_is_counted_and_the_build_goes_on(tmp_path: Path) -> None:
    root = replicas.rafdb(tmp_path / "raf")
    csvs = tmp_path / "openface"
    csvs.mkdir()
    failed = {"frame": 1, "face_id": 0, "timestamp": 0, "confidence": 0.0, "success": 0}
    write_csv(csvs / "train_00001_aligned.csv", "sequence", [(failed, {}, set())])
    write_csv(csvs / "test_00002_aligned.csv", "image", [({"face": 0, "confidence": 0.9}, {1: 2.0, 15: 2.5}, {1, 15})])
    summary = build(BuildConfig("rafdb", root, tmp_path / "out", au_source="openface", openface=csvs))
    assert summary.skipped == {"no successful OpenFace frame": 1} and summary.failed
    assert summary.rows == {"train": 2, "test": 2}
    meta = _rows(tmp_path / "out")["rafdb-test_00002"]["meta"]  # gold anger, AUs 1+15: the face shows sadness
    assert (meta["evidence"], meta["implied"], meta["support"]) == ("contradicts", "sadness", 0.0)
