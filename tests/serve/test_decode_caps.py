"""Caps on what is decoded, not on what a header declares: a caption job stops at a frame over the pixel cap or
past the duration cap whatever the container says, and an image's decode memory counts its bit depth and alpha."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from serve_helpers import call, multipart, post_json, submit_clip, wait_job

from emoreason.serve.limits import ServeLimits

pytest.importorskip("av")


def _png(mode: str, width: int = 1500, height: int = 1000) -> bytes:
    """A smooth ``width`` x ``height`` PNG in Pillow ``mode`` ("I;16": 16-bit grey, "RGB", "RGBA")."""
    from PIL import Image

    ramp = np.linspace(0, 1, width * height).reshape(height, width)
    if mode == "I;16":
        img = Image.fromarray((ramp * 65535).astype(np.uint16))
    else:
        img = Image.fromarray((np.stack([ramp] * len(mode), -1) * 255).astype(np.uint8), mode)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_image_decode_memory_counts_bit_depth_and_alpha(start: Any) -> None:
    # 1.5 MP each: 6 MB to decode as 8-bit RGB, 12 MB as 16-bit grey, 30 MB with alpha; the pixel cap is 40 MP
    deep, rgb, rgba = _png("I;16"), _png("RGB"), _png("RGBA")
    with start(limits=ServeLimits(max_image_mb=10)) as url:
        files = [("files", "deep.png", deep), ("files", "rgb.png", rgb), ("files", "alpha.png", rgba)]
        status, reply = call(f"{url}/v1/analyze", *multipart(files))
        assert status == 200
        deep_r, rgb_r, rgba_r = reply["results"]
        assert deep_r["status"] == "error" and "1500x1000 in mode I;16 (8 bytes per pixel" in deep_r["error"]
        assert "over this server's 10 MB per image (--max-image-mb)" in deep_r["error"]
        assert rgba_r["status"] == "error" and "mode RGBA" in rgba_r["error"]
        assert rgb_r["status"] != "error", rgb_r  # the same size at 8 bits per channel is read
        sid = call(f"{url}/v1/sessions", b"", method="POST")[1]["session"]
        status, refused = call(f"{url}/v1/sessions/{sid}/image", *multipart([("file", "deep.png", deep)]))
        assert status == 413 and refused["error"]["code"] == "image_too_large"
        image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(deep).decode()}}
        message = {"role": "user", "content": [{"type": "text", "text": "how does she feel?"}, image]}
        status, refused = post_json(f"{url}/v1/chat/completions", {"model": "emoreason", "messages": [message]})
        assert status == 413 and "mode I;16" in refused["detail"]


def test_caps_hold_for_what_is_decoded_not_what_the_header_says(start: Any, tmp_path: Path) -> None:
    from emoreason.testing import media as tm

    grows = tm.make_growing_frames(tmp_path / "grows.ts", small=(64, 64), large=(320, 240))  # header: 64x64
    long = tm.make_face_video(tmp_path / "long.mp4", seconds=4.0, width=160, height=96, audio="tone")
    lies = tm.make_short_header(long, tmp_path / "lies.mp4")  # header: 1 s of 4
    with start(limits=ServeLimits(max_megapixels=0.05, video_seconds=2.0)) as url:
        jobs = [submit_clip(url, clip, no_speech="true") for clip in (grows, lies)]
        assert [status for status, _ in jobs] == [202, 202]  # both pass the header checks
        big, late = (wait_job(url, job["id"])[0] for _, job in jobs)
    assert big["status"] == "error" and big["result"] is None
    assert "its frames are 320x240 (0.0768 MP), over the 0.05 MP cap" in big["error"]
    assert "its header says 64x64" in big["error"] and str(tmp_path) not in big["error"]
    assert late["status"] == "error" and "lies.mp4: its frames go on past 2 s" in late["error"], late
