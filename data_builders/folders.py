"""Class folders: ``<root>/[<split>/]<label>/*.jpg``, the layout Keras, torchvision's ImageFolder and most public
copies of FER2013 use (``Training``/``PublicTest``/``PrivateTest``, or ``train``/``val``/``test``).

- ``<label>`` is any word the one label normaliser reads ("angry", "happy", "Sad", "0 angry" is not one): a folder
  it can't read is skipped as ``unknown label``, each of its images counted.
- ``<split>``: a top folder whose name is a known split (``SPLITS``) is that split; with no split folders, every
  image is ``train``. FER2013's names map to its protocol: Training -> ``train``, PublicTest -> ``public_test``
  (choose on it), PrivateTest -> ``private_test`` (report on it).
- The images are taken as face crops (``aligned``) when they are small (``perception.expression.MAX_CROP_SIDE``);
  larger photos go through face detection like any photo.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoreason.data_builders.base import IMAGE_SUFFIXES, Context, Sample, Skip
from emoreason.errors import EmoreasonError
from emoreason.labels import normalize_label

SPLITS = {
    "training": "train", "train": "train",
    "publictest": "public_test", "public_test": "public_test", "val": "validation", "valid": "validation",
    "validation": "validation",
    "privatetest": "private_test", "private_test": "private_test", "test": "test",
}  # fmt: skip
LICENSE = "Your own class folders: the license is that of the images; check it before sharing the dataset."
CITATION = ""
FER2013_FOLDERS = {"training", "publictest", "privatetest"}  # the split names only FER2013's public copies use


def license_of(root: Path) -> str:
    """The terms to write on a card built from ``root``: FER2013's when its split folders are FER2013's own
    (Training, PublicTest, PrivateTest), else the generic class-folder notice."""
    from emoreason.data_builders.fer2013 import LICENSE as FER2013_LICENSE

    names = {p.name.lower() for p in _label_dirs(root)} if root.is_dir() else set()
    return FER2013_LICENSE if FER2013_FOLDERS <= names else LICENSE


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _label_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def split_folders(root: Path) -> list[tuple[str, Path]]:
    """(split, folder) pairs: the known split folders under ``root``, or ``[("train", root)]`` when there are none."""
    if not root.is_dir():
        raise EmoreasonError(f"{root} is not a folder: --root must hold <label>/ or <split>/<label>/ image folders")
    named = [(SPLITS[p.name.lower()], p) for p in _label_dirs(root) if p.name.lower() in SPLITS]
    return named or [("train", root)]


def iter_samples(ctx: Context) -> Iterator[Sample | Skip]:
    found = False
    for split, folder in split_folders(ctx.root):
        for label_dir in _label_dirs(folder):
            label = normalize_label(label_dir.name)
            for image in _images(label_dir):
                found = True
                sample_id = f"{split}/{label_dir.name}/{image.stem}"
                if label is None:
                    yield Skip(sample_id, split, "unknown label", f"folder {label_dir.name!r}")
                    continue
                yield Sample(
                    id=sample_id,
                    split=split,
                    label=label,
                    labels=[label],
                    images=[str(image)],
                    aligned=False,  # data_builders.faces decides from the image's size (a small crop is the face)
                    meta={"subject": None, "raw_label": label_dir.name, "folder": str(label_dir)},
                )
    if not found:
        raise EmoreasonError(
            f"{ctx.root}: no images in <label>/ or <split>/<label>/ folders (suffixes: {', '.join(IMAGE_SUFFIXES)})"
        )
