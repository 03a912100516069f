"""Small replicas of each corpus's official on-disk layout: same folder names, file names, columns and numbering.

Images are solid colours or crops of scikit-image's astronaut photo; clips are short synthetic videos made with
PyAV. Each builder returns the root folder (or file) to pass as ``--root``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image


def image(path: Path, colour: tuple[int, int, int] = (180, 140, 120), size: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)
    return path


def astronaut_crop(path: Path, size: int = 128) -> Path:
    from skimage import data

    path.parent.mkdir(parents=True, exist_ok=True)
    face = Image.fromarray(data.astronaut()[0:220, 140:330]).resize((size, size))
    face.save(path)
    return path


def video(path: Path, frames: int = 12, size: int = 64, fps: int = 10) -> Path:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            array = np.full((size, size, 3), (i * 20) % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def rafdb(root: Path, subset: str = "basic", labels: dict[str, int] | None = None) -> Path:
    """RAF-DB: <root>/<subset>/EmoLabel/list_patition_label.txt, Image/aligned, Annotation/manual."""
    digits = 5 if subset == "basic" else 4
    labels = labels or {
        f"train_{1:0{digits}d}.jpg": 4, f"train_{2:0{digits}d}.jpg": 1, f"train_{3:0{digits}d}.jpg": 7,
        f"test_{1:0{digits}d}.jpg": 5, f"test_{2:0{digits}d}.jpg": 6,
    }  # fmt: skip
    base = root / subset
    (base / "EmoLabel").mkdir(parents=True, exist_ok=True)
    (base / "EmoLabel" / "list_patition_label.txt").write_text("".join(f"{n} {v}\n" for n, v in labels.items()))
    for i, name in enumerate(labels):
        stem = Path(name).stem
        image(base / "Image" / "aligned" / f"{stem}_aligned.jpg", (40 * i % 255, 120, 200))
        image(base / "Image" / "original" / name, (40 * i % 255, 120, 200), size=96)
        manual = base / "Annotation" / "manual" / f"{stem}_manu_attri.txt"
        manual.parent.mkdir(parents=True, exist_ok=True)
        landmarks = "".join(f"{30 + j}.5\t{40 + j}.25\n" for j in range(5))
        manual.write_text(f"{landmarks}{i % 3}\n{i % 3}\n{i % 5}\n")
    return root


def fer2013(root: Path, rows: list[tuple[int, str]] | None = None) -> Path:
    rows = rows or [(3, "Training"), (0, "Training"), (6, "PublicTest"), (4, "PrivateTest")]
    pixels = " ".join(str(v % 256) for v in range(48 * 48))
    return write_csv(root / "fer2013.csv", ["emotion", "pixels", "Usage"], [[e, pixels, u] for e, u in rows])


FERPLUS_HEADER = ["Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                  "contempt", "unknown", "NF"]  # fmt: skip


def ferplus(root: Path) -> Path:
    rows = [
        ["Training", "fer0000000.png", 4, 0, 0, 1, 3, 2, 0, 0, 0, 0],  # no majority after outlier removal
        ["Training", "fer0000001.png", 6, 0, 1, 1, 0, 0, 0, 0, 2, 0],  # neutral
        ["Training", "fer0000002.png", 0, 7, 3, 0, 0, 0, 0, 0, 0, 0],  # happiness, surprise >= 30%
        ["Training", "", 0, 10, 0, 0, 0, 0, 0, 0, 0, 0],  # dropped by FER+
        ["PublicTest", "fer0000004.png", 0, 0, 0, 0, 0, 0, 0, 0, 2, 8],  # not a face
        ["PrivateTest", "fer0000005.png", 0, 0, 0, 0, 0, 0, 0, 9, 1, 0],  # contempt
    ]
    write_csv(root / "fer2013new.csv", FERPLUS_HEADER, rows)
    folders = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
    for row in rows:
        if row[1]:
            image(root / folders[row[0]] / row[1], (100, 100, 100), size=48)
    return root


AFFECTNET_HEADER = ["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
                    "expression", "valence", "arousal"]  # fmt: skip


def affectnet(root: Path) -> Path:
    lists = root / "Manually_Annotated_file_lists"
    marks = "1.0;2.0;3.0;4.0"
    train = [["689/a1.jpg", 10, 10, 40, 40, marks, 1, 0.8, 0.4], ["689/a2.jpg", 5, 5, 50, 50, marks, 7, -0.3, 0.2],
             ["12/b1.jpg", 0, 0, 60, 60, marks, 10, -2, -2]]  # fmt: skip
    valid = [["3/c1.jpg", 8, 8, 44, 44, marks, 2, -0.6, -0.1]]
    write_csv(lists / "training.csv", AFFECTNET_HEADER, train)
    write_csv(lists / "validation.csv", AFFECTNET_HEADER, valid)
    for row in train + valid:
        image(root / "Manually_Annotated_Images" / str(row[0]))
    return root


def ckplus(root: Path) -> Path:
    """S005/001 disgust with FACS (incl. an unspecified intensity), S010/002 happy, S011/001 no emotion file."""
    seqs = {("S005", "001", 11): ("3.0000000e+00", [(9, 4), (17, 0), (25, 2)]),
            ("S010", "002", 14): ("5.0000000e+00", [(6, 3), (12, 4)]),
            ("S011", "001", 9): (None, [(1, 2)])}  # fmt: skip
    for (subject, seq, last), (emotion, aus) in seqs.items():
        for frame in range(1, last + 1):
            image(root / "cohn-kanade-images" / subject / seq / f"{subject}_{seq}_{frame:08d}.png", size=48)
        stem = f"{subject}_{seq}_{last:08d}"
        facs = root / "FACS" / subject / seq / f"{stem}_facs.txt"
        facs.parent.mkdir(parents=True, exist_ok=True)
        facs.write_text("".join(f"   {float(a):.7e}   {float(i):.7e}\n" for a, i in aus))
        if emotion:
            path = root / "Emotion" / subject / seq / f"{stem}_emotion.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"   {emotion}\n")
    (root / "Emotion").mkdir(exist_ok=True)
    return root


def disfa(root: Path, frames: int = 12) -> Path:
    subject = "SN001"
    folder = root / "ActionUnit_Labels" / subject
    folder.mkdir(parents=True, exist_ok=True)
    for au in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26):
        values = [(3 if au in (6, 12) and f > 4 else 0) for f in range(1, frames + 1)]
        (folder / f"{subject}_au{au}.txt").write_text("".join(f"{f},{v}\n" for f, v in enumerate(values, 1)))
    video(root / "Videos_LeftCamera" / f"LeftVideo{subject}_comp.avi", frames=frames)
    return root


def bp4d(root: Path) -> Path:
    header = ["0", "1", "2", "4", "6", "7", "10", "12", "14", "15", "17", "23", "24"]
    rows = [[f, *([0] * 12)] for f in range(1, 5)]
    rows[2] = [3, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 9]  # AU6 + AU12, AU24 not codable
    write_csv(root / "AUCoding" / "AU_OCC" / "F001_T1.csv", header, rows)
    for f in range(1, 4):  # frame 4 has no image -> missing file
        image(root / "Sequences" / "F001" / "T1" / f"{f:04d}.jpg", size=48)
    return root


def dfew(root: Path) -> Path:
    split = root / "EmoLabel_DataSplit"
    write_csv(split / "train(single-labeled)" / "set_1.csv", ["video_name", "label"], [[1, 1], [2, 4], [3, 7]])
    write_csv(split / "test(single-labeled)" / "set_1.csv", ["video_name", "label"], [[4, 2]])
    for clip in ("00001", "00002", "00004"):
        for f in range(1, 9):
            image(root / "Clip" / "clip_224x224" / clip / f"{clip}_{f:05d}.jpg", (f * 20, 50, 50), size=32)
    video(root / "Clip" / "original" / "00003.avi", frames=8)  # no frame folder: decoded from the clip
    return root


def mafw(root: Path) -> Path:
    folds = root / "Train & Test Set" / "single" / "no_caption" / "set_1"
    folds.mkdir(parents=True, exist_ok=True)
    (folds / "train.txt").write_text("00001.mp4 anger\n00002.mp4 anxiety\n")
    (folds / "test.txt").write_text("00003.mp4 happiness\n")
    for clip in ("00001", "00002", "00003"):
        video(root / "data" / "clips" / f"{clip}.mp4", frames=8)
    return root


def emer(root: Path) -> Path:
    rows = [["sample_00000001", "happy", "I can't believe we won!", "The person smiles broadly ..."],
            ["sample_00000002", "worried", "What if it goes wrong?", "Brows drawn together ..."]]  # fmt: skip
    write_csv(root / "gt-eng.csv", ["names", "emotions", "subtitles", "reasons"], rows)
    for name, *_ in rows:
        video(root / "video" / f"{name}.mp4", frames=8)
    return root


def manifest(root: Path, fmt: str = "csv") -> Path:
    a = image(root / "faces" / "a.png", (200, 180, 160))
    b = image(root / "faces" / "b.png", (90, 90, 160))
    rows = [
        {"path": "faces/a.png", "label": "happy", "aus": json.dumps({"AU6": 2.5, "AU12": 3.2}), "transcript": "yay"},
        {"path": "faces/b.png", "label": "Sad", "aus": json.dumps({"AU1": 2.0, "AU15": 2.5}), "transcript": ""},
    ]
    assert a.exists() and b.exists()
    if fmt == "jsonl":
        path = root / "manifest.jsonl"
        path.write_text("".join(json.dumps({**r, "aus": json.loads(r["aus"])}) + "\n" for r in rows))
        return path
    return write_csv(root / "manifest.csv", list(rows[0]), [list(r.values()) for r in rows])


def astronaut_tight(path: Path, size: int = 64) -> Path:
    """A crop of the astronaut's face so tight (chin and brow cut off) that the detector misses it unpadded."""
    from skimage import data

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(data.astronaut()).crop((187, 86, 263, 162)).resize((size, size)).save(path)
    return path


# Prototype-like AU sets per basic emotion (specific AUs; each is shown with some chance) for the mislabel replica.
_SIGNS = {
    "happiness": (6, 12),
    "sadness": (1, 4, 15),
    "surprise": (1, 2, 5, 26),
    "fear": (1, 2, 4, 5, 20),
    "disgust": (9, 10, 15),
    "anger": (4, 5, 7, 23),
    "neutral": (),
}


def mislabelled_manifest(root: Path, n: int = 90, wrong_every: int = 3, seed: int = 0) -> tuple[Path, set[str]]:
    """A JSONL manifest of rows with prototype-like AUs (noisy: AUs dropped, stray AUs, varied intensities) in
    which every ``wrong_every``-th gold label is deliberately another emotion. Returns (path, ids of wrong rows)."""
    import random

    rng = random.Random(seed)
    emotions = list(_SIGNS)
    image(root / "face.png")
    lines, wrong = [], set()
    for i in range(n):
        true = emotions[i % len(emotions)]
        aus = {f"AU{a}": round(rng.uniform(1.5, 4.5), 2) for a in _SIGNS[true] if rng.random() < 0.85}
        if rng.random() < 0.5:  # a stray movement: unspecific (AU17/24/25) on an expression, a trace on a neutral face
            top = 0.9 if true == "neutral" else 2.0
            aus[f"AU{rng.choice((10, 14, 17, 24, 25)) if true == 'neutral' else rng.choice((17, 24, 25))}"] = round(
                rng.uniform(0.3, top), 2
            )
        label = true
        if i % wrong_every == 0:
            label = rng.choice([e for e in emotions if e != true])
            wrong.add(f"row{i:03d}")
        lines.append(json.dumps({"id": f"row{i:03d}", "path": "face.png", "label": label, "aus": aus}))
    path = root / "mislabelled.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, wrong
