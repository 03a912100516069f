"""The real-photo benchmark's manifest (benchmarks/real_faces.json) is well formed. No downloads here."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

from emoreason.labels import BASIC_LABELS

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "benchmarks" / "real_faces.json"
SHA = re.compile(r"^[0-9a-f]{64}$")
MEDIA = (".jpg", ".jpeg", ".png", ".ppm", ".mp4", ".mov", ".avi", ".webm")


def _real_media():
    spec = importlib.util.spec_from_file_location("real_media", ROOT / "benchmarks" / "real_media.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("real_media", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)  # defines functions only: nothing is fetched
    return module


def test_manifest_schema():
    real_media = _real_media()
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    packages = manifest["packages"]
    for key, pkg in packages.items():
        assert pkg["registry"] in real_media.REGISTRIES, key
        assert pkg["kind"] in real_media.KINDS, key
        assert pkg["name"] and pkg["version"], key
        assert pkg["licence"] and pkg["image_licence"], key
        assert pkg["sha256"] is None or SHA.match(pkg["sha256"]), key
    ids = set()
    for entry in manifest["items"] + manifest["clips"]:
        assert entry["id"] not in ids, entry["id"]
        ids.add(entry["id"])
        assert entry["package"] in packages, entry["id"]
        assert SHA.match(entry["sha256"]), entry["id"]
        assert entry["path"].lower().endswith(MEDIA) and not entry["path"].startswith("/"), entry["id"]
        assert ".." not in Path(entry["path"]).parts, entry["id"]
        if entry.get("frame_s") is not None:  # a still from a clip
            assert entry["frame_s"] >= 0 and entry["path"].lower().endswith((".mp4", ".mov")), entry["id"]
    for item in manifest["items"]:
        assert item["label"] in BASIC_LABELS, item["id"]
        assert isinstance(item["doubtful"], bool), item["id"]
        box = item["box"]
        assert box is None or (len(box) == 4 and all(v >= 0 for v in box) and box[2] > 0 and box[3] > 0), item["id"]
    used = {entry["package"] for entry in manifest["items"] + manifest["clips"]}
    assert used == set(packages)


def test_no_media_committed():
    benchmarks = ROOT / "benchmarks"
    assert not [p.name for p in benchmarks.rglob("*") if p.suffix.lower() in MEDIA]
