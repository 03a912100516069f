"""Evidence support per row (the one consistency definition), rules-mode CoTs that do not invent, face choice."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import replicas

from emoreason.data_builders.build import BuildConfig, build
from emoreason.data_builders.cot import rules_cot
from emoreason.data_builders.faces import AMBIGUOUS, choose, plausibility, read_face
from emoreason.data_builders.support import row_support
from emoreason.eval import consistency
from emoreason.reasoning.parser import parse_output


def _work_rows(out: Path) -> list[dict]:
    files = sorted((out / ".work").glob("rows-*.jsonl"))
    return [json.loads(line) for path in files for line in path.read_text().splitlines()]


def test_support_is_the_consistency_metric_function(monkeypatch: pytest.MonkeyPatch) -> None:
    row = {"aus": {"AU6": 2.5, "AU12": 3.0, "AU25": 1.5}, "label": "happiness", "meta": {}}
    # The value a rule-engine CoT for the gold label scores on the eval's evidence-consistency metric ...
    (outcome,) = rules_cot([row], "basic", 0.5)
    assert row_support(row).support == consistency.evidence_consistency(outcome.text)
    # ... because row_support calls that same function (no second definition).
    calls = []

    def spy(aus: list[str], label: str) -> float:
        calls.append((list(aus), label))
        return 0.123

    monkeypatch.setattr(consistency, "evidence_support", spy)
    assert row_support(row).support == 0.123 and calls[0] == (["AU12", "AU6", "AU25"], "happiness")


def test_verdicts() -> None:
    smile = {"AU6": 3.0, "AU12": 3.0}
    assert row_support({"aus": smile, "label": "happiness"}).verdict == "supported"
    sad = row_support({"aus": smile, "label": "sadness"})
    assert (sad.verdict, sad.implied, sad.support) == ("contradicts", "happiness", 0.0)
    assert row_support({"aus": {}, "label": "anger"}).verdict == "weak"  # nothing shows: weak, not contradicting
    assert row_support({"aus": {}, "label": "neutral"}).verdict == "supported"
    assert row_support({"aus": None, "label": "anger"}).verdict == "unchecked"  # no AUs measured
    assert row_support({"aus": smile, "label": None, "labels": ["anxiety"]}).verdict == "unchecked"  # no prototype
    # a component of a compound gold label is not "another label"
    assert row_support({"aus": smile, "label": "happily surprised"}).verdict != "contradicts"


def test_rules_cot_writes_a_rationale_only_where_the_evidence_supports_the_label() -> None:
    rows = [
        {"id": "a", "aus": {"AU6": 3.0, "AU12": 3.0}, "label": "happiness", "labels": ["happiness"], "meta": {}},
        {"id": "b", "aus": {"AU6": 3.0, "AU12": 3.0}, "label": "sadness", "labels": ["sadness"], "meta": {}},
        {"id": "c", "aus": {"AU4": 0.3}, "label": "anger", "labels": ["anger"], "meta": {}, "transcript": "go away"},
        {"id": "d", "aus": None, "label": "fear", "labels": ["fear"], "meta": {}},
    ]
    good, contradicting, weak, no_aus = rules_cot(rows, "basic", 0.5)
    assert good.kind == "rationale" and "prototype of happiness" in good.text
    for outcome, gold in ((contradicting, "sadness"), (weak, "anger"), (no_aus, "fear")):
        parsed = parse_output(outcome.text, "basic")
        assert outcome.kind == "plain" and parsed.format_ok and parsed.label == gold == parsed.conclusion_label
        assert "the label comes from the annotation" in outcome.text and "prototype" not in outcome.text
    assert "point at happiness, not at sadness" in contradicting.text
    assert set(parse_output(contradicting.text).aus) == {"AU6", "AU12"}  # it still says what the face shows
    assert "movements are weak" in weak.text and 'Speech: "go away"' in weak.text
    assert "No facial action units were measured" in no_aus.text


def test_face_rule_corpus_box_then_largest_near_centre_and_ambiguity() -> None:
    def face(x: float, y: float, w: float, h: float) -> SimpleNamespace:
        return SimpleNamespace(box=(x, y, w, h))

    centre, corner = face(400, 250, 200, 200), face(0, 0, 260, 260)
    assert plausibility(centre.box, 1000, 700) > plausibility(corner.box, 1000, 700)  # bigger but at the edge
    picked = choose([corner, centre], 1000, 700)
    assert picked.face is centre and picked.rule == "largest near centre" and not picked.ambiguous
    assert choose([corner, centre], 1000, 700, corpus_box=[5, 5, 250, 250]).face is corner  # the corpus's own box
    twins = choose([face(300, 250, 200, 200), face(500, 250, 200, 200)], 1000, 700)
    assert twins.ambiguous and twins.rule == "largest near centre"
    assert choose([face(0, 0, 40, 40), face(5, 5, 60, 60)], 64, 64, aligned=True).ambiguous is False
    assert choose([], 10, 10).rule == "no face" and 0 < AMBIGUOUS < 1


def test_an_aligned_crop_is_read_as_the_face_even_when_the_detector_misses_it(tmp_path: Path) -> None:
    crop = replicas.astronaut_tight(tmp_path / "tight.png")  # chin and brow cut off, like FER2013 / RAF-DB aligned
    found = read_face(str(crop), aligned=True)  # perception's padded retry finds it; its box lies inside the image
    assert found.face is not None and found.rule == "aligned crop" and found.face.aus
    x, y, w, h = found.box
    assert 0 <= x and 0 <= y and x + w <= 64.01 and y + h <= 64.01 and w * h > 0.5 * 64 * 64


def test_group_photo_uses_the_documented_face_and_twins_are_ambiguous(tmp_path: Path) -> None:
    from PIL import Image

    face = Image.open(replicas.astronaut_crop(tmp_path / "face.png", size=160))
    group = Image.new("RGB", (900, 600), (90, 110, 130))
    group.paste(face, (370, 220))  # the large face near the centre ...
    group.paste(face.resize((120, 120)), (20, 20))  # ... and a smaller one in a corner
    group.save(tmp_path / "group.png")
    twins = Image.new("RGB", (900, 600), (90, 110, 130))
    twins.paste(face, (200, 220))
    twins.paste(face, (540, 220))
    twins.save(tmp_path / "twins.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\ngroup.png,happy\ntwins.png,happy\n")
    summary = build(BuildConfig("manifest", manifest, tmp_path / "out"))
    assert summary.rows == {"train": 1} and summary.excluded == {"ambiguous face": 1}
    rows = {r["id"]: r for r in _work_rows(tmp_path / "out")}
    meta = rows["group"]["meta"]
    assert meta["face_count"] == 2 and meta["face_rule"] == "largest near centre" and not meta["ambiguous_face"]
    assert 330 < meta["chosen_box"][0] < 420  # the centre face, not the corner one
    assert rows["twins"]["meta"]["ambiguous_face"]
    kept = build(BuildConfig("manifest", manifest, tmp_path / "out", keep_ambiguous=True))  # no re-reading
    assert kept.rows == {"train": 2} and kept.resumed == 2 and not kept.excluded


def test_mislabelled_replica_contradictions_are_found_and_min_support_removes_them(tmp_path: Path) -> None:
    path, wrong = replicas.mislabelled_manifest(tmp_path / "m", n=90)
    summary = build(BuildConfig("manifest", path, tmp_path / "out"))
    rows = _work_rows(tmp_path / "out")
    flagged = {r["id"] for r in rows if r["meta"]["evidence"] == "contradicts"}
    hits = len(flagged & wrong)
    assert hits / len(flagged) >= 0.75 and hits / len(wrong) >= 0.6  # precision, recall (numbers in the note)
    assert summary.evidence["contradicts"] == len(flagged)
    filtered = build(BuildConfig("manifest", path, tmp_path / "out", min_support=0.5))  # a resume: only refilters
    assert filtered.resumed == 90
    kept = {r["id"] for r in _kept(tmp_path / "out")}
    assert len(wrong - kept) >= 0.9 * len(wrong)  # the wrong labels are gone ...
    right = {r["id"] for r in rows} - wrong
    assert len(kept & right) >= 0.75 * len(right)  # ... most right ones stay
    assert filtered.excluded["below --min-support"] == 90 - len(kept)


def _kept(out: Path) -> list[dict]:
    from datasets import load_from_disk

    return [r for split in load_from_disk(str(out)).values() for r in split]


def test_docstring_examples() -> None:
    import doctest

    from emoreason.data_builders import faces, report, support

    for module in (support, faces, report):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
