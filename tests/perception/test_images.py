"""Image loading: every mode the issue lists must just work; every bad input fails with one clear line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emoreason.errors import EmoreasonError
from emoreason.perception.images import as_array, detection_copy, load_image


@pytest.mark.parametrize(
    "kind",
    [
        "rgb_jpeg",
        "gray_jpeg",
        "cmyk_jpeg",
        "palette_png",
        "rgba_png",
        "gray16_png",
        "rgb48_png",
        "rgba64_png",
        "gray16_tiff",
        "webp",
    ],
)
def test_every_format_loads_as_8bit_rgb(formats: dict[str, Path], kind: str) -> None:
    img = load_image(formats[kind])
    assert img.mode == "RGB" and img.size == (512, 512)
    arr = np.asarray(img).astype(np.int16)
    from skimage import data

    reference = data.astronaut().astype(np.int16)
    if kind.startswith("gray"):
        reference = reference.mean(axis=2, keepdims=True).repeat(3, axis=2)
    # Same picture: a small mean difference (lossy codecs, gray conversion, palette), not a scaled or clipped one.
    assert np.abs(arr[40:, 40:] - reference[40:, 40:]).mean() < 12


def test_sixteen_bit_is_scaled_not_clipped(formats: dict[str, Path]) -> None:
    arr = np.asarray(load_image(formats["gray16_png"]))
    assert 60 < arr.mean() < 200  # clipping 16-bit values to 255 would give a nearly white image
    assert arr.min() < 30


def test_transparency_is_composited_on_white(formats: dict[str, Path]) -> None:
    arr = np.asarray(load_image(formats["rgba_png"]))
    assert (arr[:40, :40] == 255).all()


def test_exif_orientation_is_applied(exif_rotated: Path, face_photo: Path) -> None:
    img = load_image(exif_rotated)
    assert img.size == (512, 512)
    upright = np.asarray(load_image(face_photo)).astype(np.int16)
    assert np.abs(np.asarray(img).astype(np.int16) - upright).mean() < 6


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("missing", "no such file"),
        ("directory", "is a directory"),
        ("text_as_jpg", "not an image file"),
        ("truncated_jpeg", "truncated or corrupt"),
        ("zero_bytes", "empty (0 bytes)"),
        ("too_many_pixels", "over the 250 MP limit"),
    ],
)
def test_bad_inputs_raise_one_clear_line(bad_files: dict[str, Path], kind: str, words: str) -> None:
    with pytest.raises(EmoreasonError) as info:
        load_image(bad_files[kind])
    message = str(info.value)
    assert words in message and str(bad_files[kind]) in message
    assert "\n" not in message


def test_detection_copy_downscales_huge_images_and_reports_the_scale() -> None:
    big = np.zeros((9000, 12000, 3), np.uint8)
    small, scale = detection_copy(big, max_side=1920)
    assert small.shape == (1440, 1920, 3) and small.flags["C_CONTIGUOUS"]
    assert scale == pytest.approx(12000 / 1920)
    same, one = detection_copy(np.zeros((480, 640, 3), np.uint8))
    assert same.shape == (480, 640, 3) and one == 1.0


def test_as_array_accepts_gray_and_rgba_arrays() -> None:
    assert as_array(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    assert as_array(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5, 3)
    with pytest.raises(EmoreasonError):
        as_array(np.zeros((4, 5, 2), np.uint8))
