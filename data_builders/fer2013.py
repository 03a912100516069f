"""FER2013 (Kaggle "Challenges in Representation Learning: Facial Expression Recognition Challenge", ICML 2013).

Official layout: one file ``<root>/fer2013.csv`` (``--root`` may be the file or its folder) with the columns
``emotion,pixels,Usage``:

- ``emotion``: 0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral;
- ``pixels``: 2304 space-separated grey levels, a 48x48 image in row-major order;
- ``Usage``: Training (28,709 rows), PublicTest (3,589), PrivateTest (3,589).

Splits: Training -> ``train``, PublicTest -> ``public_test``, PrivateTest -> ``private_test``. Row ids are
``fer<row index, 7 digits>``, the names FERPlus gives the same images. Pixels become PNG files under
``--out/images/fer2013/<split>/`` only for rows being built; a bad pixel string is counted as a corrupt image.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emoreason.data_builders.base import (
    Context,
    Sample,
    Skip,
    SkipSample,
    UnknownLabel,
    map_label,
    read_csv,
    split_label,
)
from emoreason.errors import EmoreasonError
from emoreason.io import atomic_path

SPLITS = {"Training": "train", "PublicTest": "public_test", "PrivateTest": "private_test"}
# fer2013.csv `emotion` column: 0..6 -> canonical label.
LABEL_MAP: dict[int | str, str] = {
    0: "anger",
    1: "disgust",
    2: "fear",
    3: "happiness",
    4: "sadness",
    5: "surprise",
    6: "neutral",
}
LICENSE = (
    "FER2013 was released by Pierre-Luc Carrier and Aaron Courville for the Kaggle/ICML 2013 challenge under the "
    "competition rules (research use); the images were collected from the web. Do not redistribute them."
)
CITATION = (
    "Goodfellow, I. J., et al. Challenges in Representation Learning: A report on three machine learning "
    "contests. ICONIP 2013."
)


def csv_path(root: Path, name: str = "fer2013.csv") -> Path:
    path = root if root.is_file() else root / name
    if not path.is_file():
        raise EmoreasonError(f"{path} not found: --root must be {name} or the folder that holds it")
    return path


def pixels_writer(pixels: str, target: Path):  # noqa: ANN201 - returns Sample.make_images
    """A ``make_images`` callable that decodes a 48x48 pixel string into ``<out>/<target>`` (PNG)."""

    def make(out: Path) -> tuple[list[str], list[int]]:
        import numpy as np
        from PIL import Image

        path = out / target
        if not path.is_file():
            try:
                values = np.array([int(v) for v in pixels.split()], dtype=np.uint8)
                image = Image.fromarray(values.reshape(48, 48), mode="L")
            except ValueError as err:
                raise SkipSample("corrupt image", f"{target.stem}: pixels are not 2304 grey levels ({err})") from err
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                image.save(tmp, format="PNG")
        return [str(path)], []

    return make


def iter_samples(ctx: Context) -> Iterator[Sample | Skip]:
    path = csv_path(ctx.root)
    for index, (line, row) in enumerate(read_csv(path, ("emotion", "pixels", "Usage"))):
        usage = row["Usage"]
        if usage not in SPLITS:
            raise EmoreasonError(f"{path}, line {line}: unknown Usage {usage!r}; expected one of {', '.join(SPLITS)}")
        split = SPLITS[usage]
        try:
            label, labels = split_label(map_label("fer2013", LABEL_MAP, row["emotion"], f"{path}, line {line}"))
        except UnknownLabel as bad:
            yield Skip(f"fer{index:07d}", split, bad.reason, bad.detail)
            continue
        name = f"fer{index:07d}"
        yield Sample(
            id=name,
            split=split,
            label=label,
            labels=labels,
            aligned=True,
            make_images=pixels_writer(row["pixels"], Path("images") / "fer2013" / split / f"{name}.png"),
            meta={"subject": None, "raw_label": row["emotion"], "usage": usage},
        )
