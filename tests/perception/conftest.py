"""Generated still images for perception tests: real photos (scikit-image) in every awkward format, and bad files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def write_png16(path: Path, arr: np.ndarray) -> Path:
    """Write a 16-bit-per-channel PNG (gray, RGB or RGBA) by hand: Pillow cannot save 48/64-bit PNGs."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    height, width, channels = arr.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("images")


@pytest.fixture(scope="session")
def formats(image_dir: Path) -> dict[str, Path]:
    """The astronaut photo saved in every mode that must just work."""
    from PIL import Image

    rgb = astronaut()
    pil = Image.fromarray(rgb)
    out: dict[str, Path] = {}
    out["rgb_jpeg"] = image_dir / "rgb.jpg"
    pil.save(out["rgb_jpeg"], quality=92)
    out["gray_jpeg"] = image_dir / "gray.jpg"
    pil.convert("L").save(out["gray_jpeg"], quality=92)
    out["cmyk_jpeg"] = image_dir / "cmyk.jpg"
    pil.convert("CMYK").save(out["cmyk_jpeg"], quality=92)
    out["palette_png"] = image_dir / "palette.png"
    pil.convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(out["palette_png"])
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:40, :40, 3] = 0  # a transparent corner
    out["rgba_png"] = image_dir / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(out["rgba_png"])
    gray16 = (np.asarray(pil.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    out["gray16_png"] = write_png16(image_dir / "gray16.png", gray16)
    out["rgb48_png"] = write_png16(image_dir / "rgb48.png", rgb.astype(np.uint16) * 257)
    out["rgba64_png"] = write_png16(image_dir / "rgba64.png", rgba.astype(np.uint16) * 257)
    out["gray16_tiff"] = image_dir / "gray16.tif"
    Image.fromarray(gray16).save(out["gray16_tiff"])
    out["webp"] = image_dir / "rgb.webp"
    pil.save(out["webp"], quality=90)
    return out


@pytest.fixture(scope="session")
def exif_rotated(image_dir: Path) -> Path:
    """The astronaut stored sideways with EXIF Orientation=6 ("rotate 90 CW to display"), as phones write it."""
    from PIL import Image

    stored = Image.fromarray(astronaut()).transpose(Image.Transpose.ROTATE_90)  # 90 degrees counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    path = image_dir / "exif_rotated.jpg"
    stored.save(path, quality=92, exif=exif)
    return path


@pytest.fixture(scope="session")
def two_faces(image_dir: Path) -> Path:
    """Two real faces side by side: the astronaut and her mirror image."""
    from PIL import Image

    rgb = astronaut()
    path = image_dir / "two_faces.jpg"
    Image.fromarray(np.concatenate([rgb, rgb[:, ::-1]], axis=1)).save(path, quality=92)
    return path


@pytest.fixture(scope="session")
def bad_files(image_dir: Path, face_photo: Path) -> dict[str, Path]:
    """Every bad input the issue lists, plus an oversized header."""
    out: dict[str, Path] = {}
    out["missing"] = image_dir / "does_not_exist.jpg"
    out["directory"] = image_dir / "a_folder"
    out["directory"].mkdir(exist_ok=True)
    out["text_as_jpg"] = image_dir / "notes.jpg"
    out["text_as_jpg"].write_text("this is a shopping list, not a photo\n")
    data = face_photo.read_bytes()
    out["truncated_jpeg"] = image_dir / "truncated.jpg"
    out["truncated_jpeg"].write_bytes(data[: len(data) // 2])
    out["zero_bytes"] = image_dir / "empty.jpg"
    out["zero_bytes"].write_bytes(b"")
    # A PNG whose header claims 20000 x 20000 pixels (400 MP): refused before any decoding.
    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    ihdr = struct.pack(">I", 13) + b"IHDR" + header + struct.pack(">I", zlib.crc32(b"IHDR" + header) & 0xFFFFFFFF)
    out["too_many_pixels"] = image_dir / "bomb.png"
    idat = struct.pack(">I", 4) + b"IDAT" + b"\x00" * 4 + struct.pack(">I", zlib.crc32(b"IDAT" + b"\x00" * 4))
    out["too_many_pixels"].write_bytes(b"\x89PNG\r\n\x1a\n" + ihdr + idat)
    return out
