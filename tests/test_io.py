"""emoreason.io: atomic writes keep the old file on error, the JSONL log resumes (torn lines, ids, damage) and
refuses other settings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from emoreason.errors import EmoreasonError
from emoreason.io import (
    JsonlLog,
    atomic_dir,
    atomic_path,
    atomic_write_json,
    atomic_write_text,
    check_settings,
    settings_fingerprint,
)


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    assert target.stat().st_mode & 0o044  # readable like any output, not mkstemp's 0600


def test_atomic_write_keeps_the_old_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("the writer failed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]
    with pytest.raises(TypeError):
        atomic_write_json(target, {"x": object()})  # not serialisable: nothing written
    assert target.read_text() == "old"


def test_atomic_path_keeps_the_extension(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "plot.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path
        tmp.write_bytes(b"png")


def test_atomic_dir_replaces_a_folder_or_keeps_it(tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def _write(path: Path, *records: dict) -> None:
    with JsonlLog(path) as log:
        for record in records:
            log.append(record)


def test_log_resumes_ids(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    _write(path, {"id": "a"}, {"id": 2})
    log = JsonlLog(path)
    assert log.done == {"a", "2"} and "a" in log and 2 in log and log.count == 2
    log.extend([{"id": "c", "x": "é"}])
    log.close()
    assert [r["id"] for r in JsonlLog(path).records()] == ["a", 2, "c"]
    assert "é" in path.read_text(encoding="utf-8")


def test_log_repairs_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    _write(path, {"id": "a"})
    with open(path, "a") as fh:
        fh.write('{"id": "b", "sta')  # a kill mid-write
    log = JsonlLog(path)
    assert log.done == {"a"}
    assert path.read_text() == '{"id": "a"}\n'
    log.append({"id": "b"})
    log.close()
    assert [r["id"] for r in log.records()] == ["a", "b"]


def test_log_keeps_a_whole_last_record_without_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}')
    assert JsonlLog(path).done == {"a", "b"}
    _write(path, {"id": "c"})
    assert [r["id"] for r in JsonlLog(path).records()] == ["a", "b", "c"]


def test_log_refuses_a_damaged_line_in_the_middle(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "c"}\n')
    with pytest.raises(EmoreasonError, match=r"out.jsonl, line 2: .*fix or delete that line"):
        JsonlLog(path)
    path.write_text('{"id": "a"}\n{"id": null}\n')
    with pytest.raises(EmoreasonError, match="line 2"):
        JsonlLog(path)
    assert path.read_text() == '{"id": "a"}\n{"id": null}\n'  # never dropped silently


def test_settings_mismatch_refuses_with_what_to_do(tmp_path: Path) -> None:
    side = tmp_path / "new" / "out.jsonl.settings.json"  # a folder the run has not made yet
    settings = {"backend": "rules", "fps": 4.0}
    check_settings(side, settings, tmp_path / "out.jsonl", "use another --out")
    assert json.loads(side.read_text()) == {"fingerprint": settings_fingerprint(settings), "settings": settings}
    check_settings(side, dict(reversed(settings.items())), "out.jsonl", "use another --out")  # same settings
    with pytest.raises(EmoreasonError, match=r"out.jsonl was made with different settings \(fps: 4.0 then, 2.0 now\)"
                       r"; use another --out"):  # fmt: skip
        check_settings(side, {"backend": "rules", "fps": 2.0}, "out.jsonl", "use another --out")


def test_settings_file_from_an_older_version_is_its_settings(tmp_path: Path) -> None:
    side = tmp_path / "run.json"
    side.write_text(json.dumps({"source": "fer2013", "cot": "rules"}))
    check_settings(side, {"cot": "rules", "source": "fer2013"}, "out", "delete it")
    with pytest.raises(EmoreasonError, match="cot: 'rules' then, 'teacher' now"):
        check_settings(side, {"source": "fer2013", "cot": "teacher"}, "out", "delete it")
    side.write_text("garbage")
    with pytest.raises(EmoreasonError, match="delete it to resume"):
        check_settings(side, {}, "out", "x")
    assert os.path.exists(side)


def test_a_setting_the_stored_file_lacks_is_not_compared_and_then_recorded(tmp_path: Path) -> None:
    side = tmp_path / "run.json"
    check_settings(side, {"source": "fer2013"}, "out", "delete it")  # as an older version stored it
    check_settings(side, {"source": "fer2013", "frame_stride": 50}, "out", "delete it")  # resumes
    assert json.loads(side.read_text())["settings"] == {"source": "fer2013", "frame_stride": 50}
    with pytest.raises(EmoreasonError, match=r"\(frame_stride: 50 then, 25 now\)"):
        check_settings(side, {"source": "fer2013", "frame_stride": 25}, "out", "delete it")
    other = tmp_path / "other.json"
    check_settings(other, {"source": "fer2013"}, "out", "x")
    with pytest.raises(EmoreasonError, match=r"\(source: 'fer2013' then, 'rafdb' now\)"):  # a recorded one differs
        check_settings(other, {"source": "rafdb", "fold": 2}, "out", "x")


def test_doctests() -> None:
    import doctest

    import emoreason.io

    assert doctest.testmod(emoreason.io).failed == 0
