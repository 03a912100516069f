"""Throughput of `build-data` with rule CoTs and evidence support on a synthetic RAF-DB-layout corpus.

Run: ``python benchmarks/build_data.py --n 500 --workers 2 [--au-source none|dataset|blendshapes]`` -> rows/s for a
fresh build and a resumed no-op, and the evidence verdict counts.

- ``none``: solid-colour images, no AUs (media checks, CoT, card and report only);
- ``dataset``: a manifest with prototype-like AUs, a third of the labels wrong (support, verdicts, plain CoTs);
- ``blendshapes``: RAF-DB aligned crops of a real face (scikit-image's astronaut) read by the built-in estimator.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

SIGNS = {"happiness": (6, 12), "sadness": (1, 4, 15), "surprise": (1, 2, 5, 26), "fear": (1, 2, 4, 5, 20),
         "disgust": (9, 10, 15), "anger": (4, 5, 7, 23), "neutral": ()}  # fmt: skip


def make_rafdb(root: Path, n: int, faces: bool = False) -> Path:
    from PIL import Image

    face = None
    if faces:
        from skimage import data

        face = Image.fromarray(data.astronaut()[0:220, 140:330]).resize((100, 100))
    base = root / "basic"
    (base / "EmoLabel").mkdir(parents=True)
    lines = []
    for i in range(1, n + 1):
        split = "train" if i % 5 else "test"
        name = f"{split}_{i:05d}.jpg"
        lines.append(f"{name} {1 + i % 7}\n")
        path = base / "Image" / "aligned" / f"{split}_{i:05d}_aligned.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        (face.rotate(i % 11 - 5) if face else Image.new("RGB", (100, 100), (i % 255, 90, 160))).save(path)
    (base / "EmoLabel" / "list_patition_label.txt").write_text("".join(lines))
    return root


def make_manifest(root: Path, n: int) -> Path:
    from PIL import Image

    root.mkdir(parents=True)
    Image.new("RGB", (64, 64), (180, 140, 120)).save(root / "face.png")
    rng, emotions, lines = random.Random(0), list(SIGNS), []
    for i in range(n):
        true = emotions[i % len(emotions)]
        aus = {f"AU{a}": round(rng.uniform(1.5, 4.5), 2) for a in SIGNS[true] if rng.random() < 0.85}
        label = rng.choice([e for e in emotions if e != true]) if i % 3 == 0 else true
        lines.append(json.dumps({"id": f"row{i:05d}", "path": "face.png", "label": label, "aus": aus}))
    path = root / "m.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--au-source", choices=("none", "dataset", "blendshapes"), default="none")
    args = parser.parse_args()
    from emoreason.data_builders.build import BuildConfig, build

    with tempfile.TemporaryDirectory() as tmp:
        if args.au_source == "dataset":
            config = BuildConfig("manifest", make_manifest(Path(tmp) / "m", args.n), Path(tmp) / "out",
                                 workers=args.workers, batch_size=32)  # fmt: skip
        else:
            root = make_rafdb(Path(tmp) / "raf", args.n, faces=args.au_source == "blendshapes")
            config = BuildConfig("rafdb", root, Path(tmp) / "out", au_source=args.au_source, workers=args.workers,
                                 batch_size=32)  # fmt: skip
        start = time.perf_counter()
        summary = build(config)
        fresh = time.perf_counter() - start
        start = time.perf_counter()
        build(config)
        resumed = time.perf_counter() - start
    rows = sum(summary.rows.values())
    print(f"au_source={args.au_source} rows={rows} workers={args.workers} fresh={fresh:.2f}s "
          f"({rows / fresh:.0f} rows/s) resume-noop={resumed:.2f}s evidence={summary.evidence} "
          f"skipped={summary.skipped}")  # fmt: skip


if __name__ == "__main__":
    main()
