"""OpenFace 2.0 CSV import on CSVs generated in the real format (RecorderCSV.cpp: ", " separators everywhere)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoreason.errors import EmoreasonError
from emoreason.perception.openface import AU_C, read_openface_csv, read_openface_rows
from emoreason.testing.openface_csv import write_csv


def test_real_format_sequence_with_success_and_confidence_filtering(tmp_path: Path) -> None:
    happy = {6: 2.4, 12: 3.1, 25: 1.0}
    rows = [
        ({"frame": 1, "face_id": 0, "timestamp": 0.0, "confidence": 0.98, "success": 1}, happy, {6, 12, 25, 28}),
        ({"frame": 1, "face_id": 1, "timestamp": 0.0, "confidence": 0.92, "success": 1}, {4: 2.0, 7: 1.5}, {4, 7}),
        ({"frame": 2, "face_id": 0, "timestamp": 0.04, "confidence": 0.3, "success": 1}, happy, set()),  # low conf
        ({"frame": 3, "face_id": 0, "timestamp": 0.08, "confidence": 0.98, "success": 0}, happy, set()),  # failed
    ]
    path = write_csv(tmp_path / "video.csv", "sequence", rows)
    assert ", " in path.read_text().splitlines()[0] and path.read_text().startswith("frame, face_id, timestamp")
    aus = read_openface_csv(path)
    assert set(aus) == {(1, 0), (1, 1)}
    assert aus[(1, 0)]["AU12"] == 3.1 and aus[(1, 0)]["AU6"] == 2.4
    assert aus[(1, 0)]["AU28"] == 1.0  # AU28 has only a presence column
    assert "AU28" not in aus[(1, 1)]
    assert set(aus[(1, 0)]) == {f"AU{n}" for n in AU_C}
    rows_read = read_openface_rows(path)
    assert rows_read[0].present == ["AU6", "AU12", "AU25", "AU28"] and rows_read[0].center is not None
    assert len(read_openface_csv(path, min_confidence=0.0)) == 3  # the failed row stays out at any confidence


def test_legacy_layout_without_face_id_and_image_layout(tmp_path: Path) -> None:
    legacy = write_csv(
        tmp_path / "old.csv",
        "legacy",
        [({"frame": 5, "timestamp": 0.2, "confidence": 0.9, "success": 1}, {1: 1.2}, {1})],
    )
    assert read_openface_csv(legacy) == {(5, 0): pytest.approx(read_openface_csv(legacy)[(5, 0)])}
    assert read_openface_csv(legacy)[(5, 0)]["AU1"] == 1.2
    image = write_csv(
        tmp_path / "photo.csv",
        "image",
        [({"face": 0, "confidence": 0.95}, {12: 4.0}, {12}), ({"face": 1, "confidence": 0.9}, {15: 2.0}, {15})],
    )
    aus = read_openface_csv(image)
    assert aus[(0, 0)]["AU12"] == 4.0 and aus[(0, 1)]["AU15"] == 2.0


def test_intensities_are_clipped_to_the_facs_range(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        "sequence",
        [({"frame": 1, "face_id": 0, "timestamp": 0, "confidence": 1, "success": 1}, {12: 5.7, 4: -0.3}, set())],
    )
    aus = read_openface_csv(path)[(1, 0)]
    assert aus["AU12"] == 5.0 and aus["AU4"] == 0.0


def test_malformed_rows_are_skipped(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "m.csv",
        "sequence",
        [({"frame": 1, "face_id": 0, "timestamp": 0, "confidence": 1, "success": 1}, {12: 2.0}, set())],
    )
    with open(path, "a") as fh:
        fh.write("2, 0, 0.04, 0.99, 1, not-a-number\n\n")
    assert list(read_openface_csv(path)) == [(1, 0)]


def test_wrong_columns_name_the_expected_ones(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("id,label,score\n1,happy,0.9\n")
    with pytest.raises(EmoreasonError) as info:
        read_openface_csv(path)
    message = str(info.value)
    assert "not an OpenFace 2.0 CSV" in message and "AU01_r" in message and "AU28_c" in message
    assert "frame, face_id, timestamp, confidence, success" in message


@pytest.mark.parametrize("kind", ["missing", "empty", "directory", "binary"])
def test_unreadable_csvs_are_clear_errors(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x.csv"
    if kind == "empty":
        path.write_text("")
    elif kind == "directory":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)))
    with pytest.raises(EmoreasonError):
        read_openface_csv(path)
