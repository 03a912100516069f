"""The dataset card, report.json, support.png and `emoreason data inspect` against a count made by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import replicas

SMILE = {"AU6": 3.0, "AU12": 3.0}


def _manifest(root: Path) -> Path:
    """Nine lines, counted by hand below: 4 kept (1 supported happy, 1 contradicting sad, 1 weak anger, 1 fear),
    a truncated JPEG, a zero-byte file, a missing file, a label outside the map and an empty path."""
    from PIL import Image

    replicas.image(root / "a.png")
    Image.new("RGB", (200, 200), (120, 90, 60)).save(root / "full.jpg", quality=95)
    data = (root / "full.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "empty.jpg").write_bytes(b"")
    lines = [
        {"id": "a", "path": "a.png", "label": "happy", "aus": SMILE},
        {"id": "b", "path": "a.png", "label": "sad", "aus": SMILE},
        {"id": "c", "path": "a.png", "label": "angry", "aus": {}, "split": "test"},
        {"id": "d", "path": "truncated.jpg", "label": "happy", "aus": SMILE},
        {"id": "e", "path": "empty.jpg", "label": "sad", "aus": SMILE},
        {"id": "f", "path": "gone.png", "label": "sad", "split": "test"},
        {"id": "g", "path": "a.png", "label": "bananas"},
        {"id": "h", "path": "", "label": "happy"},
        {"id": "i", "path": "a.png", "label": "fear", "aus": {"AU1": 3, "AU2": 3, "AU4": 3, "AU5": 3, "AU20": 3},
         "split": "test"},
    ]  # fmt: skip
    path = root / "m.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emoreason", *args], capture_output=True, text=True, timeout=300)


def test_card_report_plot_and_inspect_match_a_count_by_hand(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _cli("build-data", "manifest", "--root", str(_manifest(tmp_path)), "--out", str(out))
    assert done.returncode == 1, done.stderr  # broken input was counted: scripts notice
    assert "train: 2 rows" in done.stdout and "test: 2 rows" in done.stdout
    for line in ("1 corrupt image (e.g. d)", "1 empty file (e.g. e)", "1 missing file (e.g. f)",
                 "1 unknown label (e.g. g)", "1 missing path (e.g. h)"):  # fmt: skip
        assert line in done.stdout
    assert "evidence: 2 supported, 1 weak, 1 contradicts, 0 unchecked (of 4 kept)" in done.stdout
    card = (out / "README.md").read_text()
    # label | kept | no face | corrupt | ambiguous | low support | other | quartiles | checked | weak | contradicting
    assert (
        "| happiness | 1 | 0 | 2 | 0 | 0 | 0 | 1.00/1.00/1.00 | 1 | 0 | 0% |" in card
    )  # a kept; d truncated, h no path
    assert "| sadness | 1 | 0 | 1 | 0 | 0 | 0 | 0.00/0.00/0.00 | 1 | 0 | 100% |" in card  # b contradicts, e empty
    assert "| unknown | 0 | 0 | 0 | 0 | 0 | 1 | - | 0 | 0 | - |" in card  # g: a label outside the map
    assert "| anger | 1 | 0 | 0 | 0 | 0 | 0 | 0.00/0.00/0.00 | 1 | 1 | 0% |" in card  # c: weak, in test
    assert "| sadness | 0 | 0 | 1 | 0 | 0 | 0 | - | 0 | 0 | - |" in card  # f missing, in test
    assert "![evidence support per label](support.png)" in card and (out / "support.png").stat().st_size > 1000
    assert (out / "support.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "report.json").read_text())
    assert report["splits"]["train"]["sadness"]["contradicting_share"] == 1.0
    assert [r["id"] for r in report["least_supported"]] == ["b", "c", "a", "i"][: len(report["least_supported"])]

    shown = _cli("data", "inspect", str(out), "-n", "2")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert text.startswith(f"{out}: manifest") and "train:" in text and "test:" in text
    assert "2 least-supported kept rows:" in text
    assert "0.00  contradicts train/b  sadness (points at happiness)" in text and "test/c  anger" in text
    assert "train/a" not in text.split("least-supported")[1]  # only -n 2 rows
    missing = _cli("data", "inspect", str(tmp_path))
    assert missing.returncode == 1 and "has no report.json" in missing.stderr and "Traceback" not in missing.stderr


def test_min_support_on_resume_changes_the_card_without_rebuilding(tmp_path: Path) -> None:
    from emoreason.data_builders.build import BuildConfig, build

    path = _manifest(tmp_path)
    build(BuildConfig("manifest", path, tmp_path / "out"))
    summary = build(BuildConfig("manifest", path, tmp_path / "out", min_support=0.5))
    assert summary.resumed == 4 and summary.rows == {"train": 1, "test": 1}
    assert summary.excluded == {"below --min-support": 2}
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| sadness | 0 | 0 | 1 | 0 | 1 | 0 | - | 0 | 0 | - |" in card  # b now left out for low support


def test_report_counts_quality_flags_and_those_on_unsupported_rows() -> None:
    from emoreason.data_builders.report import report_lines, summarize

    def row(i: int, label: str, evidence: str, support: float, quality: list[str]) -> dict:
        meta = {"split": "train", "evidence": evidence, "support": support, "quality": quality, "au_source": "x",
                "face_rule": "only face", "implied": "happiness"}  # fmt: skip
        return {"id": f"r{i}", "label": label, "labels": [label], "images": [f"/p/{i}.jpg"], "meta": meta}

    kept = {"train": [row(1, "happiness", "supported", 1.0, ["small_face"]),
                      row(2, "sadness", "contradicts", 0.0, ["turned_face", "small_face"]),
                      row(3, "sadness", "weak", 0.2, [])]}  # fmt: skip
    skipped = [{"id": "r4", "split": "train", "reason": "no face", "label": "sadness"}]
    report = summarize(kept, [], skipped)
    assert report["quality"] == {"small_face": 2, "turned_face": 1}
    assert report["flagged_unsupported"] == {"turned_face": 1, "small_face": 1}
    sad = report["splits"]["train"]["sadness"]
    assert (sad["kept"], sad["skipped"], sad["checked"], sad["contradicting_share"]) == (2, {"no face": 1}, 2, 0.5)
    assert sad["support_quartiles"] == [0.05, 0.1, 0.15]
    text = "\n".join(report_lines(report, 1))
    assert "quality flags on weak/contradicting rows: turned_face 1, small_face 1" in text
    assert "0.00  contradicts train/r2  sadness (points at happiness)  /p/2.jpg" in text and "r3" not in text
