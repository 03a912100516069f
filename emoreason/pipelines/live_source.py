"""Live frame sources for ``emoreason caption --live`` and the server's live page: a camera (``/dev/videoN``,
PyAV's v4l2 input), a network stream (``rtsp://``, ``http://``, ``udp://``, ...), a container stream on stdin
(``-``), or frames handed in one by one (:class:`FrameBox`, the WebSocket).

A reader thread decodes at the stream's pace and hands on the frames due at ``fps``. A stream does not deliver
them evenly: a pipe or a socket passes the muxer's output in buffer-sized chunks, and what was sent while the
reader was starting (``ffmpeg -re ... | emoreason caption --live -`` starts sending before emoreason is up) comes
as one burst. Such frames are all read when the analysis keeps up with them: a frame waits in a short queue
(:class:`_Slot`, at most ``QUEUE_SECONDS`` of frames, the reader holding back while it is full) and is dropped,
counted in ``dropped``, only once it has waited more than ``MAX_WAIT_S`` for the analysis: the analysis has fallen
behind, and the newer frames are read instead. Each frame carries its arrival time (``time.monotonic``), so a
reading's latency is measured from when its frame came in.

Frame times are seconds from the first frame. A stream that sends nothing for ``stall_s`` has stalled; with
``reconnect`` tries it is opened again after 1, 2, 4, ... s (at most 30), else it ends like an end of stream.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from emoreason.errors import EmoreasonError
from emoreason.perception import media

logger = logging.getLogger(__name__)

NETWORK_TIMEOUT_US = 10_000_000  # FFmpeg's rw_timeout / timeout for network streams: a read that hangs this long fails


@dataclass
class LiveFrame(media.Frame):
    """A sampled frame with the moment it arrived (``time.monotonic``)."""

    arrival: float = 0.0


MAX_WAIT_S = 0.5  # a frame that waited longer than this for the analysis is dropped (the latency aim)
QUEUE_SECONDS = 2.0  # frames of this many seconds at ``fps`` wait at most (a bound on memory: 10 at 5 fps)


class _Slot:
    """The frames waiting for the analysis, oldest first (module docstring). At most ``depth`` frames: with ``hold``
    (a stream's reader) a put into a full queue waits for room while the oldest frame has waited less than
    ``max_wait`` s, so a burst is read, not dropped, when the analysis keeps up; past that the oldest is dropped. A
    take drops the frames that waited more than ``max_wait`` s while a newer one waits behind them. Without ``hold``
    and with ``depth=1`` (the WebSocket's box, whose put must not block) a put replaces the frame not taken yet."""

    def __init__(self, dropped: int = 0, depth: int = 1, max_wait: float = MAX_WAIT_S, hold: bool = False) -> None:
        self.cond = threading.Condition()
        self.frames: deque[LiveFrame] = deque()
        self.depth, self.max_wait, self.hold = max(1, depth), max_wait, hold
        self.dropped = dropped
        self.ended = False  # the producer will put no more (end of stream, error, stop)
        self.error: BaseException | None = None

    def put(self, frame: LiveFrame) -> None:
        with self.cond:
            while self.hold and len(self.frames) >= self.depth and not self.ended:
                waited = time.monotonic() - self.frames[0].arrival
                if waited >= self.max_wait:
                    break
                self.cond.wait(self.max_wait - waited)
            self.frames.append(frame)
            while len(self.frames) > self.depth:
                self.frames.popleft()
                self.dropped += 1
            self.cond.notify_all()

    def end(self, error: BaseException | None = None) -> None:
        with self.cond:
            self.ended, self.error = True, self.error or error
            self.cond.notify_all()

    def take(self, timeout: float) -> tuple[LiveFrame | None, bool]:
        """(the next frame or None, whether the stream ended), waiting at most ``timeout`` s for either."""
        with self.cond:
            self.cond.wait_for(lambda: bool(self.frames) or self.ended, timeout)
            late = time.monotonic() - self.max_wait
            while len(self.frames) > 1 and self.frames[0].arrival < late:
                self.frames.popleft()
                self.dropped += 1
            frame = self.frames.popleft() if self.frames else None
            self.cond.notify_all()  # a put waiting for room
            return frame, self.ended and frame is None


def queue_depth(fps: float) -> int:
    """Frames a live source holds for the analysis at ``fps`` (``QUEUE_SECONDS`` of them, at least 2)."""
    return max(2, math.ceil(QUEUE_SECONDS * fps)) if fps else 2


def open_stream(source: str, stdin: BinaryIO | None = None) -> Any:
    """``av.open`` for a live source, with every failure one line that says what to do."""
    import av

    if source == "-":  # FFmpeg reads fd 0 itself: no Python file object is held by the reader at exit
        return _opened(lambda: av.open(stdin, mode="r") if stdin is not None else av.open("pipe:0"), "stdin")
    if source.startswith("/dev/"):
        if not Path(source).exists():
            raise EmoreasonError(f"camera {source}: no such device (unplugged?); `ls /dev/video*` lists the cameras")
        return _opened(lambda: av.open(source, format="v4l2"), f"camera {source}")
    if "://" in source:
        options = {"rw_timeout": str(NETWORK_TIMEOUT_US)}
        if source.startswith("rtsp"):
            options["timeout"] = str(NETWORK_TIMEOUT_US)
        return _opened(lambda: av.open(source, options=options, timeout=NETWORK_TIMEOUT_US / 1e6), source)
    if not Path(source).exists():
        raise EmoreasonError(
            f"{source}: no such file, device or URL; --live takes /dev/videoN, rtsp://, http://, udp://... or - "
            "(a stream on stdin)"
        )
    return _opened(lambda: av.open(source), source)


def _opened(open_fn: Callable[[], Any], name: str) -> Any:
    import errno

    import av

    try:
        return open_fn()
    except av.error.FFmpegError as err:
        code = getattr(err, "errno", None)
        if code == errno.EBUSY:
            raise EmoreasonError(f"{name} is busy: another program is using it; close that one first") from err
        if code in (errno.EACCES, errno.EPERM):
            raise EmoreasonError(f"{name}: permission denied (add yourself to the 'video' group?)") from err
        if code == errno.ENOENT:
            raise EmoreasonError(f"{name}: not found (unplugged, or a wrong path or URL?)") from err
        if isinstance(err, av.error.InvalidDataError):
            raise EmoreasonError(f"{name}: not a media stream (no container recognised in what it sends)") from err
        raise EmoreasonError(f"{name}: can't open the stream: {err.strerror or err}") from err
    except OSError as err:
        raise EmoreasonError(f"{name}: can't open the stream: {err.strerror or err}") from err


class LiveSource:
    """Frames of a live stream at ``fps``, through a short queue that drops what waited too long (module
    docstring). ``frames()`` yields :class:`LiveFrame` until the stream ends or :meth:`stop` is called;
    ``on_audio(start_s, samples)`` gets the audio (16 kHz mono float32) in chunks of ``audio_chunk`` s from the
    reader thread, and must not block."""

    def __init__(
        self,
        source: str,
        fps: float = 5.0,
        max_side: int | None = 640,
        reconnect: int = 0,
        stall_s: float = 10.0,
        on_audio: Callable[[float, np.ndarray], None] | None = None,
        audio_chunk: float = 5.0,
        stdin: BinaryIO | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.source, self.fps, self.max_side = source, fps, max_side
        self.reconnect, self.stall_s = reconnect, stall_s
        self.on_audio, self.audio_chunk, self.stdin = on_audio, audio_chunk, stdin
        self.say = say or (lambda text: logger.warning("%s", text))
        self.notes: list[str] = []
        self.frames_decoded = 0
        self.sampled = 0
        self._slot = _Slot(depth=queue_depth(fps), hold=True)
        self._stop = threading.Event()
        self._offset = 0.0  # added to the times of the current connection (after a reconnect: past the last frame)
        self._last = -math.inf  # the last frame's time (s from the first frame)
        self._container: Any = None
        self._check_opens()

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    def _check_opens(self) -> None:
        """Open the stream now, so a missing device, a busy camera or a stream with no video is a one-line error
        before anything else starts."""
        container = open_stream(self.source, self.stdin)
        if not container.streams.video:
            container.close()
            raise EmoreasonError(f"{self.source}: no video stream (audio only?); --live needs a video track")
        self._container = container

    def stop(self) -> None:
        """End the stream (Ctrl-C, the page's Stop): ``frames()`` returns after the frame in hand."""
        self._stop.set()
        self._slot.end()

    # -------------------------------------------------------------------------------------------- the reader
    def _read(self, container: Any) -> None:
        try:
            self._decode(container)
            self._slot.end()
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            self._slot.end(err)
        finally:
            try:
                container.close()
            except Exception:  # noqa: BLE001 - a broken stream may not close cleanly
                pass

    def _decode(self, container: Any) -> None:
        import av

        video = container.streams.video[0]
        video.thread_type = "AUTO"
        audio = container.streams.audio[0] if self.on_audio is not None and container.streams.audio else None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=media.SAMPLE_RATE) if audio else None
        pending: list[np.ndarray] = []
        chunk_len = max(1, int(self.audio_chunk * media.SAMPLE_RATE))
        audio_start: float | None = None
        interval = 1.0 / self.fps if self.fps else 0.0
        next_time = -math.inf
        first: float | None = None
        size: tuple[int, int] | None = None
        damaged = 0
        for packet in container.demux(*[s for s in (video, audio) if s is not None]):
            if self._stop.is_set():
                return
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                damaged += 1  # a damaged packet: skipped, the stream goes on
                continue
            for frame in decoded:
                if packet.stream is video:
                    self.frames_decoded += 1
                    pts = frame.time if frame.time is not None else self.frames_decoded / 25.0
                    first = pts if first is None else first
                    t = pts - first + self._offset
                    if t < self._last - 0.5:  # the clock went back (a restarted encoder, streams joined): re-based
                        self._offset += self._last + 0.04 - t
                        t = self._last + 0.04
                    t = max(t, self._last + 1e-3)
                    if size is not None and (frame.width, frame.height) != size:
                        was, now = "x".join(map(str, size)), f"{frame.width}x{frame.height}"
                        note = f"the picture changed from {was} to {now} at {t:.1f} s"
                        self.notes.append(note)
                        self.say(note)
                    size = (frame.width, frame.height)
                    self._last = t
                    if t + 1e-6 < next_time:
                        continue
                    next_time = (math.floor(t / interval + 1e-6) + 1) * interval if interval else t
                    self._slot.put(self._sampled(frame, t))
                elif resampler is not None:
                    if audio_start is None:
                        audio_start = max(0.0, (frame.time or 0.0) - (first or frame.time or 0.0)) + self._offset
                    pending += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
                    if sum(p.size for p in pending) >= chunk_len:
                        samples = np.concatenate(pending).astype(np.float32)
                        for i in range(0, samples.size - chunk_len + 1, chunk_len):
                            self.on_audio(audio_start, samples[i : i + chunk_len])  # type: ignore[misc]
                            audio_start += chunk_len / media.SAMPLE_RATE
                        rest = samples.size % chunk_len
                        pending = [samples[samples.size - rest :]] if rest else []
        if pending and audio_start is not None and self.on_audio is not None:
            self.on_audio(audio_start, np.concatenate(pending).astype(np.float32))
        if damaged:
            self.notes.append(f"{damaged} damaged packets skipped")

    def _sampled(self, frame: Any, t: float) -> LiveFrame:
        rotation = frame.rotation or 0
        shape = media._resize_shape(frame.width, frame.height, self.max_side)
        if shape:
            frame = frame.reformat(width=shape[0], height=shape[1])
        image = media._rotate(frame.to_ndarray(format="rgb24"), rotation)
        self.sampled += 1
        return LiveFrame(image, t, self.sampled - 1, self.frames_decoded - 1, arrival=time.monotonic())

    # -------------------------------------------------------------------------------------------- the consumer
    def frames(self) -> Iterator[LiveFrame]:
        """The next due frame each time the caller is ready for one, until the end (see the class docstring)."""
        reopenable = self.source.startswith("/dev/") or "://" in self.source
        tries = 0
        container, self._container = self._container, None
        while True:
            if container is not None:
                self._slot = _Slot(dropped=self.dropped, depth=queue_depth(self.fps), hold=True)
                threading.Thread(target=self._read, args=(container,), name="emoreason-live-read", daemon=True).start()
                while True:
                    frame, ended = self._slot.take(self.stall_s)
                    if frame is None:
                        break
                    tries = 0
                    yield frame
                if self._stop.is_set():
                    return
                error = self._slot.error
                if not ended:  # the reader is stuck in a read: left to its stop flag (a daemon thread)
                    what = f"no frame for {self.stall_s:.0f} s: the stream stalled"
                elif error is not None:
                    what = f"the stream broke off ({error})"
                else:
                    what = "the stream ended" if reopenable else ""
            if not reopenable or tries >= self.reconnect:
                if what:
                    self.notes.append(what)
                    self.say(what + ("; --reconnect N retries it" if reopenable and not self.reconnect else ""))
                return
            tries += 1
            wait = min(30.0, 2.0 ** (tries - 1))
            self.say(f"{what}; reconnecting to {self.source} in {wait:.0f} s (try {tries} of {self.reconnect})")
            if self._stop.wait(wait):
                return
            try:
                container = open_stream(self.source, self.stdin)
            except EmoreasonError as err:
                container, what = None, str(err)
                continue
            self._offset = self._last + (1.0 / self.fps if self.fps else 0.04)
            self.notes.append(f"reconnected at {self._offset:.1f} s")


class FrameBox:
    """A live source fed frame by frame (the server's WebSocket): ``put`` replaces a frame not yet taken (counted
    in ``dropped``), ``frames()`` yields the newest until :meth:`stop`. Same contract as :class:`LiveSource`."""

    def __init__(self, stall_s: float = 3600.0) -> None:
        self._slot = _Slot()
        self.stall_s = stall_s
        self.notes: list[str] = []
        self.sampled = 0
        self._last = -math.inf

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    def put(self, image: np.ndarray, t: float) -> None:
        t = max(t, self._last + 1e-3)
        self._last = t
        self._slot.put(LiveFrame(image, t, self.sampled, self.sampled, arrival=time.monotonic()))
        self.sampled += 1

    def stop(self) -> None:
        self._slot.end()

    def frames(self) -> Iterator[LiveFrame]:
        while True:
            frame, ended = self._slot.take(self.stall_s)
            if frame is None:
                return
            yield frame
