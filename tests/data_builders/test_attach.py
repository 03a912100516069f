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


def test_blendshape_estimator_reads_a_real_face_and_reports_rows_without_one(tmp_path: Path) -> None:
    root = replicas.rafdb(tmp_path / "raf")  # solid-colour images, no face ...
    replicas.astronaut_crop(root / "basic" / "Image" / "aligned" / "train_00001_aligned.jpg", size=100)  # ... but one
    summary = build(BuildConfig("rafdb", root, tmp_path / "out"))  # --au-source auto: no corpus AUs -> blendshapes
    assert summary.rows == {"train": 3, "test": 2} and summary.au_coverage == 0.2
    rows = _rows(tmp_path / "out")
    smiling = rows["rafdb-train_00001"]
    aus = coerce_aus(smiling["aus"])
    assert smiling["meta"]["au_source"] == "blendshapes" and 12 in present(aus)  # the astronaut smiles
    assert "AU12" in parse_output(smiling["cot"]).aus  # the CoT cites what the estimator saw
    blank = rows["rafdb-test_00001"]
    assert blank["aus"] is None and blank["meta"]["au_source"] == "none: no face found"


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
