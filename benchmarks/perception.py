"""Still-image throughput: `analyze` on the rules backend against bare MediaPipe FaceLandmarker.detect.

Run: ``python benchmarks/perception.py [--photo PATH] [--seconds 5]`` -> prints faces/s for both and their ratio
(the overhead of loading, finding the faces, AUs, the face model, Evidence, reasoning and results; target >= 0.45,
issue 24 aims at 0.5), and the same ratio in CPU time (``time.process_time``, all threads of the process), which
another busy process moves much less than wall time. analyze finds faces with the face detector inside the
landmarker bundle (~1 ms) and reads each once with the landmarker on its aligned crop (a second time only where
the detector framed it off), in its read-ahead thread, while the main thread runs the AUs, the face model and the
reasoning of the photo before: on an idle 2-core machine the two overlap, on a loaded one the CPU ratio is what
is left. Read the ratio on an idle machine and give the load average with it. The default photo is scikit-image's
astronaut resized to 640x480 and saved as JPEG; ``analyze`` reads and decodes that file every time, in batches of
BATCH paths, as in `emoreason analyze *.jpg`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

BATCH = 8  # analyze runs on a batch of paths (as `emoreason analyze *.jpg` does); rates are per image


def make_photo(folder: Path) -> Path:
    from PIL import Image
    from skimage import data

    path = folder / "astronaut_640x480.jpg"
    Image.fromarray(data.astronaut()).resize((640, 480), Image.Resampling.BICUBIC).save(path, quality=90)
    return path


def interleaved(fns: list, seconds: float, block: int = 10) -> list[tuple[float, int, float]]:  # type: ignore[type-arg]
    """(calls per second, faces of one call, calls per CPU second) of each function, measured in alternating
    blocks so machine load hits all alike."""
    faces = [fn() for fn in fns]  # warm-up
    spent = [0.0] * len(fns)
    cpu = [0.0] * len(fns)
    calls = [0] * len(fns)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds * len(fns):
        for i, fn in enumerate(fns):
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(block):
                fn()
            spent[i] += time.perf_counter() - t0
            cpu[i] += time.process_time() - c0
            calls[i] += block
    return [(n / t, f, n / c) for n, t, f, c in zip(calls, spent, faces, cpu, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photo", type=Path, help="a photo (default: the astronaut at 640x480)")
    parser.add_argument("--seconds", type=float, default=5.0, help="time per side of the comparison")
    args = parser.parse_args()

    import mediapipe as mp
    import numpy as np

    from emoreason.perception.faces import create_landmarker
    from emoreason.perception.images import load_image
    from emoreason.pipelines.image import ImageOptions, analyze_paths
    from emoreason.reasoning.rules import RuleReasoner

    with tempfile.TemporaryDirectory() as tmp:
        photo = args.photo or make_photo(Path(tmp))
        rgb = np.ascontiguousarray(np.asarray(load_image(photo)))
        bare = create_landmarker("image")
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        reasoner, options = RuleReasoner(), ImageOptions()
        (bare_rate, bare_faces, bare_cpu), (full_rate, full_faces, full_cpu) = interleaved(
            [
                lambda: len(bare.detect(image).face_landmarks),
                lambda: sum(len(r.faces) for r in analyze_paths([photo] * BATCH, reasoner, options)) / BATCH,
            ],
            args.seconds,
        )
        bare.close()
        full_rate *= BATCH  # one analyze call handles BATCH images
        full_cpu *= BATCH
    height, width = rgb.shape[:2]
    print(f"photo: {photo.name} {width}x{height}, faces: detect={bare_faces} analyze={full_faces:g}")
    print(f"bare FaceLandmarker.detect: {bare_rate * bare_faces:8.1f} faces/s ({1000 / bare_rate:.1f} ms/image)")
    print(f"analyze (rules backend):    {full_rate * full_faces:8.1f} faces/s ({1000 / full_rate:.1f} ms/image)")
    print(f"ratio analyze/detect:       {(full_rate * full_faces) / (bare_rate * bare_faces):8.2f} (target >= 0.45)")
    cpu_ratio = (full_cpu * full_faces) / (bare_cpu * bare_faces)
    print(f"CPU time: detect {1000 / bare_cpu:.1f}, analyze {1000 / full_cpu:.1f} ms/image; ratio {cpu_ratio:.2f}")
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
