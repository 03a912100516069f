"""Images as the model backends need them: RGB PIL images (hf, vllm) or base64 data URLs (openai)."""

from __future__ import annotations

import base64
import io
import os
from typing import Any

from emoreason.errors import EmoreasonError


def as_pil(image: Any) -> Any:
    """An RGB PIL image from a PIL image, a file path, encoded bytes or an HxWx3 uint8 array."""
    from PIL import Image

    from emoreason.perception.images import load_image, to_rgb

    if isinstance(image, Image.Image):
        return to_rgb(image)
    if isinstance(image, str | os.PathLike):
        return load_image(image)
    if isinstance(image, bytes | bytearray):
        try:
            return to_rgb(Image.open(io.BytesIO(image)))
        except Exception as err:  # noqa: BLE001 - any decoder failure is one user-facing message
            raise EmoreasonError(f"could not decode an image given as bytes ({err}); pass a PNG or JPEG") from err
    if isinstance(image, dict) and ("bytes" in image or "path" in image):  # a datasets Image() cell
        return as_pil(image.get("bytes") or image.get("path"))
    try:
        import numpy as np

        return to_rgb(Image.fromarray(np.asarray(image)))
    except Exception as err:  # noqa: BLE001
        raise EmoreasonError(f"unsupported image of type {type(image).__name__}; pass a PIL image or a path") from err


def data_url(image: Any, max_side: int = 1024, quality: int = 90) -> str:
    """A ``data:image/jpeg;base64,...`` URL (PNG for small crops, so they stay lossless) for the openai backend."""
    pil = as_pil(image)
    if max(pil.size) > max_side:
        pil = pil.copy()
        pil.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    if pil.width * pil.height <= 512 * 512:
        pil.save(buffer, format="PNG")
        mime = "image/png"
    else:
        pil.save(buffer, format="JPEG", quality=quality)
        mime = "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"
