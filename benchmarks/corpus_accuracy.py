"""`benchmarks/accuracy.py --data DIR`: a labelled corpus split through `emoreason analyze`, side by side.

Columns: emoreason's AU rules alone, its face model alone, the fused reading (what `analyze` gives), and the `fer`
package's bundled CNN run straight on the same image files (its venv: see ``benchmarks/peer_fer.py``; skipped when
it is not there). Per system: per-class recall, WAR, UAR, no-reading count, faces/s; for the fused reading also
its confusion matrix and expected calibration error. Report a test split (FER2013 ``--split private_test``) once,
after everything was chosen on the selection split; the data is read from the path you give, nothing is committed::

    python benchmarks/accuracy.py --data /path/to/fer2013 --split private_test
    python benchmarks/accuracy.py --data /path/to/fer2013 --split private_test --per-class 50   # a quick look
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from emoreason.perception.expression import EXPRESSION_LABELS


def split_items(data: str, split: str, per_class: int | None) -> tuple[list[str], list[str]]:
    from emoreason.data_builders.base import Context
    from emoreason.data_builders.folders import iter_samples

    paths, truths, count = [], [], {}
    for item in iter_samples(Context(root=Path(data))):
        if getattr(item, "split", None) != split or getattr(item, "label", None) not in EXPRESSION_LABELS:
            continue
        if per_class is not None and count.get(item.label, 0) >= per_class:
            continue
        count[item.label] = count.get(item.label, 0) + 1
        paths.append(item.images[0])
        truths.append(item.label)
    return paths, truths


def peer_fer(paths: list[str], truths: list[str], venv: Path | None, extra: tuple[str, ...] = ()) -> dict | None:
    """The fer package's CNN on each file through peer_fer.py: with ``extra`` ``("--crops",)`` straight on the file
    as a face crop (fer's own input preparation, no detector), else through fer's detector with the whole image
    as the face box (fer then pads it by 40 px)."""
    if venv is None:
        return None
    python = venv / "bin" / "python"
    if not python.is_file():
        print(f"fer: skipped, no venv at {venv} (see benchmarks/peer_fer.py)")
        return None
    from PIL import Image

    entries = []
    for i, path in enumerate(paths):
        w, h = Image.open(path).size
        entries.append({"id": str(i), "path": path, "box": [0, 0, w, h]})
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(json.dumps(entries))
        proc = subprocess.run([str(python), str(Path(__file__).with_name("peer_fer.py")), str(src), "--peer", "fer",
                               *extra, "--out", str(dst)], capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not dst.is_file():
            print(f"fer: failed: {(proc.stderr or proc.stdout)[-400:]}")
            return None
        payload = json.loads(dst.read_text())
    labels = {int(r["id"]): r.get("label") for r in payload["results"]}
    return {"labels": [labels.get(i) for i in range(len(paths))], "seconds": payload["seconds"]}


def table(name: str, got: list[str | None], truths: list[str], seconds: float, scored: dict | None = None) -> dict:
    """One system's row: ``scored`` (``channel_scores``, for emoreason's channels) or the labels scored here by the
    same ``scores``, plus faces/s."""
    from emoreason.train.face_model import scores

    if scored is None:
        truth = np.array([EXPRESSION_LABELS.index(t) for t in truths])
        pred = np.array([EXPRESSION_LABELS.index(g) if g in EXPRESSION_LABELS else -1 for g in got])
        scored = scores(truth, pred)
        scored["no_reading"] = sum(g is None for g in got)
    return {"system": name, **scored, "faces_per_s": len(truths) / max(seconds, 1e-9)}


def run(data: str, split: str, per_class: int | None, expression_model: str | None, peer_venv: Path | None,
        json_out: str | None) -> int:
    from emoreason.train.face_model_fusion import channel_scores, read_images

    paths, truths = split_items(data, split, per_class)
    print(f"{len(paths)} images of {data} split {split}")
    start = time.perf_counter()
    readings = read_images(paths, truths, expression_model)
    seconds = time.perf_counter() - start
    rows = [table(name, [], truths, seconds, channel_scores(readings, channel))
            for channel, name in (("rules", "emoreason rules only"), ("model", "emoreason face model only"),
                                  ("fused", "emoreason fused (analyze)"))]
    fused = rows[-1]
    for extra, name in (((), "fer (detector, file as box)"), (("--crops",), "fer (CNN straight on the crop)")):
        peer = peer_fer(paths, truths, peer_venv, extra)
        if peer:
            rows.append(table(name, peer["labels"], truths, peer["seconds"]))
    head = f"{'system':32s} {'WAR':>6s} {'UAR':>6s} " + " ".join(f"{lab[:7]:>7s}" for lab in EXPRESSION_LABELS)
    print(head + "  no-read  faces/s")
    for row in rows:
        cells = " ".join(f"{row['recall'].get(lab, 0.0):7.3f}" for lab in EXPRESSION_LABELS)
        print(f"{row['system']:32s} {row['war']:6.3f} {row['uar']:6.3f} {cells}  {row['no_reading']:7d}  "
              f"{row['faces_per_s']:7.1f}")
    print(f"fused: expected calibration error {fused.get('ece', 0.0):.4f} (15 bins)")
    for row in rows:
        print(f"confusion of {row['system']} (rows: truth, columns: reading, order {', '.join(EXPRESSION_LABELS)}):")
        for lab, line in zip(EXPRESSION_LABELS, row["confusion"], strict=True):
            print(f"  {lab:10s} " + " ".join(f"{v:5d}" for v in line))
    print("(emoreason's faces/s is the whole analyze pipeline: decode, detection, AUs, face model, rules)")
    if json_out:
        Path(json_out).write_text(json.dumps({"rows": rows}, indent=1))
    return 0
