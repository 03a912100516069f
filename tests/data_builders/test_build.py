"""End to end: `emoreason build-data` on layout replicas -> a saved DatasetDict, its card, views, resume, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import replicas
from PIL import Image

from emoreason.data_builders.build import BuildConfig, build
from emoreason.errors import EmoreasonError
from emoreason.reasoning.parser import parse_output

CLI = [sys.executable, "-m", "emoreason"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "build-data", *args], capture_output=True, text=True, timeout=300)


def test_rafdb_end_to_end_through_the_cli(tmp_path: Path) -> None:
    from datasets import load_dataset, load_from_disk

    from emoreason.train.data import grpo_view, sft_view

    root, out = replicas.rafdb(tmp_path / "RAF-DB"), tmp_path / "out"
    done = run_cli("rafdb", "--root", str(root), "--out", str(out), "--cot", "rules", "--au-source", "none")
    assert done.returncode == 0, done.stderr
    assert "train: 3 rows" in done.stdout and "test: 2 rows" in done.stdout
    assert "CoT (rules): 0 rule-engine rationales, 5 plain" in done.stdout  # no AUs: nothing backs a rationale
    assert "evidence: 0 supported, 0 weak, 0 contradicts, 5 unchecked (of 5 kept)" in done.stdout
    data = load_from_disk(str(out))
    assert set(data) == {"train", "test"}
    loaded = load_dataset(str(out), cache_dir=str(tmp_path / "hf"))  # the card names the files and the features
    assert {s: loaded[s]["id"] for s in loaded} == {s: data[s]["id"] for s in data}
    for split in data.values():
        for row in split:
            parsed = parse_output(row["cot"], "basic")
            assert parsed.format_ok and parsed.label == row["label"] and parsed.answer == row["label"]
            assert row["meta"]["source"] == "rafdb" and row["meta"]["gender"] in ("male", "female", "unsure")
    card = (out / "README.md").read_text()
    assert "non-commercial research purposes only" in card and "| happiness | 1 | 0 | 1 |" in card
    assert "CoT mode: **rules**" in card and "AU-F1 1 by construction" in card and "not an acceptance test" in card
    assert all("the label comes from the annotation" in r["cot"] for r in data["train"])

    sft = sft_view(data["train"], label_set="basic")
    assert sft.column_names == ["images", "messages"] or set(sft.column_names) == {"images", "messages"}
    first = sft[0]
    assert first["messages"][-1]["role"] == "assistant"
    assert first["messages"][-1]["content"][0]["text"] == data["train"][0]["cot"]
    assert sum(p["type"] == "image" for p in first["messages"][1]["content"]) == len(first["images"]) == 1
    grpo = grpo_view(data["test"], label_set="basic")
    assert set(grpo.column_names) == {"prompt", "images", "label", "labels", "aus", "transcript"}
    assert (
        grpo[0]["label"] == data["test"][0]["label"]
        and grpo[0]["prompt"][0]["role"] == "system"
        and grpo[0]["prompt"][-1]["role"] == "user"
    )


def test_ckplus_rows_carry_dataset_aus_and_cots_cite_them(tmp_path: Path) -> None:
    from datasets import load_from_disk

    from emoreason.facs import coerce_aus

    summary = build(BuildConfig("ckplus", replicas.ckplus(tmp_path / "ck"), tmp_path / "out"))
    assert summary.rows == {"train": 2} and summary.skipped == {"no emotion file": 1}
    row = next(r for r in load_from_disk(str(tmp_path / "out"))["train"] if r["label"] == "disgust")
    assert coerce_aus(row["aus"]) == {"AU9": 4.0, "AU17": 3.0, "AU25": 2.0}
    assert parse_output(row["cot"]).aus == ["AU9", "AU17", "AU25"] and row["meta"]["au_source"] == "dataset"


def test_video_sources_decode_frames_into_the_output(tmp_path: Path) -> None:
    from datasets import load_from_disk

    summary = build(BuildConfig("mafw", replicas.mafw(tmp_path / "mafw"), tmp_path / "out", frames_per_clip=3,
                                au_source="none"))  # fmt: skip
    assert summary.rows == {"train": 2, "test": 1}
    data = load_from_disk(str(tmp_path / "out"))
    anxiety = next(r for r in data["train"] if r["labels"] == ["anxiety"])
    assert anxiety["label"] is None and parse_output(anxiety["cot"], "open").labels == ["anxiety"]
    assert len(anxiety["images"]) == 3 and all(Path(p).is_file() for p in anxiety["images"])
    assert anxiety["video"].endswith("00002.mp4") and anxiety["frames"] == [1, 4, 6]


def test_missing_and_corrupt_images_are_counted_and_the_build_goes_on(tmp_path: Path) -> None:
    root = replicas.rafdb(tmp_path / "raf")
    aligned = root / "basic" / "Image" / "aligned"
    (aligned / "train_00002_aligned.jpg").unlink()
    (root / "basic" / "Image" / "original" / "train_00002.jpg").unlink()
    (aligned / "test_00001_aligned.jpg").write_bytes(b"not a jpeg at all")
    out = tmp_path / "out"
    done = run_cli("rafdb", "--root", str(root), "--out", str(out), "--au-source", "none")
    assert done.returncode == 1  # some items failed
    assert "skipped 2 rows:" in done.stdout
    assert "1 missing file (e.g. rafdb-train_00002)" in done.stdout
    assert "1 corrupt image (e.g. rafdb-test_00001)" in done.stdout
    assert "train: 2 rows" in done.stdout and "test: 1 rows" in done.stdout
    card = (out / "README.md").read_text()
    assert "1 missing file" in card and "1 corrupt image" in card


def test_layout_and_label_errors_print_one_line(tmp_path: Path) -> None:
    done = run_cli("rafdb", "--root", str(tmp_path), "--out", str(tmp_path / "o"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error:") and "list_patition_label.txt" in done.stderr
    root = replicas.rafdb(tmp_path / "raf", labels={"train_00001.jpg": 4, "test_00001.jpg": 0})
    done = run_cli("rafdb", "--root", str(root), "--out", str(tmp_path / "o2"), "--au-source", "none")
    assert done.returncode == 1 and "Traceback" not in done.stderr  # a label outside the map: counted, build goes on
    assert "train: 1 rows" in done.stdout and "1 unknown label (e.g. rafdb-test_00001)" in done.stdout
    skipped = (tmp_path / "o2" / ".work" / "skipped.jsonl").read_text()
    assert "line 2: unknown rafdb label '0'" in skipped
    done = run_cli("nosuch", "--root", str(root), "--out", str(tmp_path / "o3"))
    assert done.returncode == 1 and "choose one of: rafdb" in done.stderr


class Interrupt(Exception):
    pass


def test_resume_after_interruption_skips_finished_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datasets import load_from_disk

    from emoreason.data_builders import build as build_module

    root, out = replicas.rafdb(tmp_path / "raf"), tmp_path / "out"
    real, calls = build_module.rules_cot, []

    def flaky(rows, *args):  # noqa: ANN001, ANN202
        calls.append([r["id"] for r in rows])
        if len(calls) == 3:
            raise Interrupt  # the process dies while the third batch is being written
        return real(rows, *args)

    monkeypatch.setattr(build_module, "rules_cot", flaky)
    with pytest.raises(Interrupt):
        build(BuildConfig("rafdb", root, out, au_source="none", batch_size=2))
    work = out / ".work"
    with (work / "rows-test.jsonl").open("a") as handle:
        handle.write('{"id": "rafdb-test_0000')  # a line cut mid-write
    summary = build(BuildConfig("rafdb", root, out, au_source="none", batch_size=2))
    assert calls[3:] == [["rafdb-test_00002"]]  # only the unfinished row is redone
    assert summary.resumed == 4 and summary.rows == {"train": 3, "test": 2}
    data = load_from_disk(str(out))
    ids = list(data["train"]["id"]) + list(data["test"]["id"])
    assert len(ids) == len(set(ids)) == 5
    with pytest.raises(EmoreasonError, match=r"out was made with different settings \(au_source: 'none' then, 'auto' "
                       r"now, source: 'rafdb' then, 'fer2013' now\); use another --out or delete it"):  # fmt: skip
        build(BuildConfig("fer2013", replicas.fer2013(tmp_path / "fer"), out))


def test_resume_refuses_other_clip_sampling_or_teacher_and_takes_other_assembly_options(tmp_path: Path) -> None:
    from emoreason.data_builders.build import run_settings

    root, out = replicas.rafdb(tmp_path / "raf"), tmp_path / "out"
    build(BuildConfig("rafdb", root, out, au_source="none"))
    with pytest.raises(EmoreasonError, match=r"\(frame_stride: 50 then, 25 now\)"):
        build(BuildConfig("rafdb", root, out, au_source="none", frame_stride=25))
    with pytest.raises(EmoreasonError, match=r"\(frames_per_clip: 4 then, 8 now\)"):
        build(BuildConfig("rafdb", root, out, au_source="none", frames_per_clip=8))
    summary = build(BuildConfig("rafdb", root, out, au_source="none", min_support=0.5, keep_ambiguous=True, limit=3))
    assert summary.resumed == 5  # assembly options and --limit may change on a resume
    assert not list((out / ".work").glob("*.tmp"))  # the save's temporary folder is gone
    teacher = {"cot": "teacher", "backend": "hf", "au_source": "none"}
    one = run_settings(BuildConfig("rafdb", root, out, model="a", **teacher))
    two = run_settings(BuildConfig("rafdb", root, out, model="b", **teacher))
    assert one["model"] == "a" and two["model"] == "b" and "model" not in run_settings(BuildConfig("rafdb", root, out))


def test_an_interrupted_build_resumes_to_the_same_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datasets import load_from_disk

    from emoreason.data_builders import build as build_module

    root = replicas.rafdb(tmp_path / "raf")
    build(BuildConfig("rafdb", root, tmp_path / "whole", au_source="none", batch_size=2))
    real, calls = build_module.rules_cot, []

    def dies(rows, *args):  # noqa: ANN001, ANN202
        calls.append(1)
        if len(calls) == 2:
            raise Interrupt
        return real(rows, *args)

    monkeypatch.setattr(build_module, "rules_cot", dies)
    with pytest.raises(Interrupt):
        build(BuildConfig("rafdb", root, tmp_path / "cut", au_source="none", batch_size=2))
    with (tmp_path / "cut" / ".work" / "skipped.jsonl").open("a") as handle:
        handle.write('{"id": "raf')  # a torn line in another work file
    build(BuildConfig("rafdb", root, tmp_path / "cut", au_source="none", batch_size=2))
    whole, cut = load_from_disk(str(tmp_path / "whole")), load_from_disk(str(tmp_path / "cut"))
    assert {s: cut[s].to_list() for s in cut} == {s: whole[s].to_list() for s in whole}
    rows = tmp_path / "cut" / ".work" / "rows-train.jsonl"
    lines = rows.read_text().splitlines()
    rows.write_text("\n".join([lines[0], "garbage", *lines[1:]]) + "\n")  # damaged by hand: refused, not dropped
    with pytest.raises(EmoreasonError, match=r"rows-train.jsonl, line 2: .*fix or delete that line"):
        build(BuildConfig("rafdb", root, tmp_path / "cut", au_source="none", batch_size=2))
    assert "garbage" in rows.read_text()


def test_limit_takes_the_first_items(tmp_path: Path) -> None:
    summary = build(BuildConfig("fer2013", replicas.fer2013(tmp_path / "fer"), tmp_path / "o", limit=2,
                                au_source="none"))  # fmt: skip
    assert summary.rows == {"train": 2}
    assert Image.open(tmp_path / "o" / "images" / "fer2013" / "train" / "fer0000001.png").size == (48, 48)


def test_label_table_matches_the_maps_and_the_readme() -> None:
    from emoreason.data_builders.registry import DATASET_LABEL_MAPS, label_table

    table = label_table()
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[2].rstrip(" |") for line in table.splitlines()[2:]}
    for source, mapping in DATASET_LABEL_MAPS.items():
        pairs = [p.split(" → ") for p in rows[source].split(" · ")]
        assert {k: v.removesuffix(" (open)") for k, v in pairs} == {str(k): v for k, v in mapping.items()}
    # Official numbering, typed in from each corpus's documentation (independent of the adapters' maps):
    official = {
        "rafdb": "1 surprise 2 fear 3 disgust 4 happiness 5 sadness 6 anger 7 neutral",
        "fer2013": "0 anger 1 disgust 2 fear 3 happiness 4 sadness 5 surprise 6 neutral",
        "affectnet": "0 neutral 1 happiness 2 sadness 3 surprise 4 fear 5 disgust 6 anger 7 contempt",
        "ckplus": "0 neutral 1 anger 2 contempt 3 disgust 4 fear 5 happiness 6 sadness 7 surprise",
        "dfew": "1 happiness 2 sadness 3 neutral 4 anger 5 surprise 6 disgust 7 fear",
    }
    for source, text in official.items():
        words = text.split()
        assert DATASET_LABEL_MAPS[source] == {int(words[i]): words[i + 1] for i in range(0, len(words), 2)}
    readme = Path(__file__).parents[2] / "README.md"
    assert table in readme.read_text(), "README.md must contain data_builders.registry.label_table() verbatim"


def test_work_files_are_json_lines(tmp_path: Path) -> None:
    build(BuildConfig("ferplus", replicas.ferplus(tmp_path / "fp"), tmp_path / "o", au_source="none"))
    skipped = [json.loads(line) for line in (tmp_path / "o" / ".work" / "skipped.jsonl").read_text().splitlines()]
    assert {s["reason"] for s in skipped} == {"FER+ no majority label", "dropped by FER+ (empty Image name)",
                                              "FER+ majority is NF"}  # fmt: skip


def test_a_killed_build_process_resumes_through_the_cli(tmp_path: Path) -> None:
    """The process dies hard (os._exit, no cleanup) after its second batch; `build-data` then finishes the rest."""
    root, out = replicas.rafdb(tmp_path / "raf"), tmp_path / "out"
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from emoreason.data_builders.build import BuildConfig, build\n"
        "calls = []\n"
        "def progress(done, total):\n"
        "    calls.append(done)\n"
        "    if len(calls) == 3:\n"  # 0 rows, batch 1, batch 2
        "        os._exit(9)\n"
        "build(BuildConfig('rafdb', Path(sys.argv[1]), Path(sys.argv[2]), au_source='none', batch_size=2), progress)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(root), str(out)], capture_output=True, timeout=300)
    assert killed.returncode == 9 and not (out / "dataset_dict.json").exists()
    done = run_cli("rafdb", "--root", str(root), "--out", str(out), "--au-source", "none", "--batch-size", "2")
    assert done.returncode == 0, done.stderr
    assert "(4 rows were finished by an earlier run and reused)" in done.stdout
    assert "train: 3 rows" in done.stdout and "test: 2 rows" in done.stdout


def test_a_skipped_line_and_a_good_line_with_the_same_id_are_both_counted(tmp_path: Path) -> None:
    replicas.image(tmp_path / "a.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\na.png,bananas\na.png,happy\nb.png,sad\nb.png,bananas\n")
    summary = build(BuildConfig("manifest", manifest, tmp_path / "out", au_source="none"))
    # line 3 is not taken for "finished" because line 2 (same id) was skipped; b's bad line keeps its reason
    assert summary.skipped == {"unknown label": 2, "duplicate id": 1, "missing file": 1}
    again = build(BuildConfig("manifest", manifest, tmp_path / "out", au_source="none"))
    assert again.skipped == summary.skipped
