"""Live streams for tests and benchmarks, made with PyAV (no ffmpeg binary): a clip remuxed as MPEG-TS into a pipe
at its own pace, as ``ffmpeg -re -i clip.mp4 -f mpegts -`` would send it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import BinaryIO


def send_mpegts(
    src: str | Path, dst: BinaryIO, realtime: bool = True, until: float | None = None, close: bool = True
) -> float:
    """Remux ``src``'s video (and audio) packets into MPEG-TS on ``dst`` (no re-encoding), each packet sent at its
    time when ``realtime`` (like ``ffmpeg -re``). ``until``: stop after this many seconds of the clip without an end
    marker (a stream that just stops). Returns the seconds of the clip sent. A reader that goes away ends it."""
    import av

    sent = 0.0
    with av.open(str(src)) as inp:
        out = av.open(dst, mode="w", format="mpegts")
        streams = [s for s in (inp.streams.video[:1] + inp.streams.audio[:1])]
        mapping = {s.index: out.add_stream_from_template(s) for s in streams}
        start = time.monotonic()
        first: float | None = None
        try:
            for packet in inp.demux(*streams):
                if packet.dts is None:
                    continue
                t = float(packet.pts * packet.time_base) if packet.pts is not None else sent
                first = t if first is None else first
                if until is not None and t - first > until:
                    dst.flush()
                    return sent
                if realtime:
                    delay = (t - first) - (time.monotonic() - start)
                    if delay > 0:
                        time.sleep(delay)
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
                sent = max(sent, t - first)
            out.close()
        except (BrokenPipeError, OSError):
            pass
        finally:
            if close:
                try:
                    dst.close()
                except OSError:
                    pass
    return sent
