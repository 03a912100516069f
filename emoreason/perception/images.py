"""Load still images robustly: any common mode becomes 8-bit RGB, EXIF rotation is applied, bad files fail clearly.

Modes handled: RGB, RGBA/LA/P with transparency (composited on white), grayscale, 1-bit, CMYK (incl. Adobe
inverted JPEGs, via Pillow), YCbCr/LAB/HSV, 16-bit grayscale (``I;16``, ``I``), 48/64-bit RGB(A) PNG and TIFF, and
float images. Every failure a user can cause raises :class:`~emoreason.errors.EmoreasonError` with one line.

Huge photos are allowed up to ``MAX_PIXELS`` (250 MP: a 108 MP phone photo passes, a decompression bomb does not);
detection runs on a copy whose long side is at most ``DETECT_MAX_SIDE`` and reports the scale back.
:func:`decode_bytes` says, from the header's size and mode, how much memory loading an image will take.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emoreason.errors import EmoreasonError

if TYPE_CHECKING:
    from PIL import Image as PILImage

logger = logging.getLogger(__name__)

MAX_PIXELS = 250_000_000
DETECT_MAX_SIDE = 1920
# Peak bytes per pixel that load_image holds for an image of each Pillow mode: the decoded pixels, to_rgb's
# intermediates (an alpha or palette image is composited on white in RGBA) and the RGB result. Measured as the
# growth of ru_maxrss over an 8 MP image of each mode (Pillow 13), rounded up.
DECODE_BYTES_PER_PIXEL = {
    "1": 5, "L": 5, "RGB": 4, "P": 21, "PA": 21, "LA": 20, "La": 20, "RGBA": 20, "RGBa": 20, "RGBX": 20,
    "CMYK": 8, "YCbCr": 8, "LAB": 8, "HSV": 8, "I;16": 8, "I;16B": 8, "I;16L": 8, "I;16N": 8, "I": 12, "F": 30,
}  # fmt: skip
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".jfif"}


def _check_path(path: Path) -> None:
    if not path.exists():
        raise EmoreasonError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise EmoreasonError(f"{path} is a directory; give image files (for example {path}/*.jpg)")
    if not os.access(path, os.R_OK):
        raise EmoreasonError(f"{path}: permission denied; make the file readable")
    if path.stat().st_size == 0:
        raise EmoreasonError(f"{path} is empty (0 bytes); it is not an image")


def _open(path: Path) -> PILImage.Image:
    from PIL import Image, UnidentifiedImageError

    if (Image.MAX_IMAGE_PIXELS or 0) < MAX_PIXELS:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's guard would reject a legit 108 MP photo; ours is below
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise EmoreasonError(
                    f"{path} is {width}x{height} ({width * height / 1e6:.0f} MP), over the "
                    f"{MAX_PIXELS / 1e6:.0f} MP limit; downscale it first"
                )
            img.load()  # decode now, so truncation and corruption surface here
    except EmoreasonError:
        raise
    except UnidentifiedImageError as err:
        raise EmoreasonError(f"{path} is not an image file Pillow can read (is it really {path.suffix}?)") from err
    except Image.DecompressionBombError as err:
        raise EmoreasonError(f"{path} is too large to decode safely ({err}); downscale it first") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise EmoreasonError(f"{path} is truncated or corrupt and can't be decoded ({err})") from err
    return img


def decode_bytes(mode: str, width: int, height: int) -> int:
    """About how many bytes :func:`load_image` needs at its peak for a ``width`` x ``height`` image in Pillow mode
    ``mode`` (known from the header, before decoding); an unknown mode counts as the costliest.

    >>> decode_bytes("RGB", 1000, 1000), decode_bytes("I;16", 1000, 1000), decode_bytes("RGBA", 1000, 1000)
    (4000000, 8000000, 20000000)
    """
    return width * height * DECODE_BYTES_PER_PIXEL.get(mode, max(DECODE_BYTES_PER_PIXEL.values()))


def _sixteen_bit_to_8(arr: np.ndarray) -> np.ndarray:
    """Scale integer/float single-channel data to uint8 by its nominal range. Integers from 0 to 65535 (16-bit
    images) go through a lookup table of the same formula: 1 byte per pixel more instead of three float64 copies."""
    top = (float(np.nanmax(arr)) if np.issubdtype(arr.dtype, np.floating) else float(arr.max())) if arr.size else 0.0
    if top <= 1.0:
        scale = 255.0
    elif top <= 255.0:
        scale = 1.0
    elif top <= 65535.0:
        scale = 255.0 / 65535.0
    else:
        scale = 255.0 / top
    if np.issubdtype(arr.dtype, np.integer) and arr.size and top <= 65535 and arr.min() >= 0:
        table = np.clip(np.arange(int(top) + 1, dtype=np.float64) * scale + 0.5, 0, 255).astype(np.uint8)
        return table[arr]
    return np.clip(np.nan_to_num(arr.astype(np.float64)) * scale + 0.5, 0, 255).astype(np.uint8)


def to_rgb(img: PILImage.Image) -> PILImage.Image:
    """Any Pillow mode -> 8-bit RGB; transparency is composited on white."""
    from PIL import Image

    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return Image.fromarray(_sixteen_bit_to_8(np.asarray(img)), "L").convert("RGB")
    if mode == "P" or mode == "PA":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as err:
        raise EmoreasonError(f"image mode {mode} can't be converted to RGB ({err}); save it as 8-bit RGB") from err


def load_image(path: str | os.PathLike[str]) -> PILImage.Image:
    """Open an image file as upright 8-bit RGB (EXIF orientation applied). Raises EmoreasonError on bad input."""
    from PIL import ImageOps

    path = Path(path)
    _check_path(path)
    img = _open(path)
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)
    try:
        ImageOps.exif_transpose(img, in_place=True)  # in place: no copy of an upright photo (~0.4 ms at 640x480)
    except Exception as err:  # noqa: BLE001 - a broken EXIF block should not lose the picture
        logger.warning("%s: ignoring unreadable EXIF orientation (%s)", path, err)
    return to_rgb(img)


def as_array(img: PILImage.Image | np.ndarray) -> np.ndarray:
    """A C-contiguous HxWx3 uint8 array (what MediaPipe's SRGB image wants)."""
    arr = np.asarray(img) if not isinstance(img, np.ndarray) else img
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise EmoreasonError(f"expected an RGB image array, got shape {arr.shape}")
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def detection_copy(img: PILImage.Image | np.ndarray, max_side: int = DETECT_MAX_SIDE) -> tuple[np.ndarray, float]:
    """The image to run detection on and the factor that maps its pixels back to the original (>= 1.0).

    Images whose long side is at most ``max_side`` are used as they are (scale 1.0).
    """
    from PIL import Image

    if isinstance(img, np.ndarray):
        height, width = img.shape[:2]
    else:
        width, height = img.size
    long_side = max(width, height)
    if not max_side or long_side <= max_side:
        return as_array(img), 1.0
    scale = long_side / max_side
    size = (max(1, round(width / scale)), max(1, round(height / scale)))
    pil = img if not isinstance(img, np.ndarray) else Image.fromarray(as_array(img))
    small = pil.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return as_array(small), width / size[0]
