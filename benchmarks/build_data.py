"""Throughput of `build-data` with rule CoTs on a synthetic RAF-DB-layout corpus (no AU estimation).

Run: ``python benchmarks/build_data.py --n 500 --workers 2`` -> prints rows/s for a fresh build and a resumed no-op.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def make_rafdb(root: Path, n: int) -> Path:
    from PIL import Image

    base = root / "basic"
    (base / "EmoLabel").mkdir(parents=True)
    lines = []
    for i in range(1, n + 1):
        split = "train" if i % 5 else "test"
        name = f"{split}_{i:05d}.jpg"
        lines.append(f"{name} {1 + i % 7}\n")
        path = base / "Image" / "aligned" / f"{split}_{i:05d}_aligned.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (100, 100), (i % 255, 90, 160)).save(path)
    (base / "EmoLabel" / "list_patition_label.txt").write_text("".join(lines))
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from emoreason.data_builders.build import BuildConfig, build

    with tempfile.TemporaryDirectory() as tmp:
        root = make_rafdb(Path(tmp) / "raf", args.n)
        config = BuildConfig("rafdb", root, Path(tmp) / "out", au_source="none", workers=args.workers, batch_size=32)
        start = time.perf_counter()
        summary = build(config)
        fresh = time.perf_counter() - start
        start = time.perf_counter()
        build(config)
        resumed = time.perf_counter() - start
    rows = sum(summary.rows.values())
    print(f"rows={rows} workers={args.workers} fresh={fresh:.2f}s ({rows / fresh:.0f} rows/s) "
          f"resume-noop={resumed:.2f}s")  # fmt: skip


if __name__ == "__main__":
    main()
