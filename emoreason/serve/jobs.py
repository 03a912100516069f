"""Video caption jobs behind ``POST /v1/caption``: bounded, with progress, a result in the ``caption`` JSON shape,
and cancel.

A clip is checked from its container header first (a video stream, at most ``video_seconds`` long, frames within
the pixel cap), and again as it is decoded, since a header can lie: a frame over the pixel cap (FFmpeg refuses to
allocate it) or frames or audio past ``video_seconds`` end the job with an error. Jobs run one at a time on a
runner thread; their perception (decode, faces, speech) runs in a child process, kept warm between jobs and killed
on cancel or timeout, so those end the work for real. Reasoning runs here, on the shared work queue, so a model
backend stays one model in memory. Progress is the perception stage and the share of the clip decoded so far. At
most ``video_jobs`` are queued or running; more get 429. Finished jobs are kept (``jobs_kept``, newest) so their
result, subtitles and evidence (for a chat session) can be fetched. A job belongs to the owner that started it
(:mod:`emoreason.serve.owners`): to anyone else it does not exist (404).
"""

from __future__ import annotations

import logging
import math
import queue
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.serve.limits import ApiError, ServeLimits

logger = logging.getLogger(__name__)

ACTIVE = ("queued", "running")


@dataclass
class CaptionJob:
    id: str
    owner: str  # owners.key_owner / ClientTokens.owner of the request that started it
    name: str  # the client's (safe) file name
    path: Path | None  # the upload, deleted when perception is over (None for a job read back from the state folder)
    options: Any  # video.VideoOptions
    duration: float | None
    status: str = "queued"  # queued | running | done | error | cancelled
    stage: str = "queued"  # queued | starting | speech | faces | reasoning | done
    progress: float = 0.0
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    media: Any = None  # the MediaResult, for subtitles
    evidence: list[Any] = field(default_factory=list)  # Evidence, for attaching to a chat session
    crops: dict[str, bytes] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)

    def view(self, with_result: bool = True) -> dict[str, Any]:
        end = self.finished or time.time()
        out = {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "stage": self.stage,
            "progress": round(self.progress, 3),
            "duration": self.duration,
            "created": self.created,
            "elapsed_s": round(end - (self.started or end), 2),
            "error": self.error,
            "links": {
                "self": f"/v1/caption/{self.id}",
                "subtitles": f"/v1/caption/{self.id}/subtitles.vtt",
                "srt": f"/v1/caption/{self.id}/subtitles.srt",
                "jsonl": f"/v1/caption/{self.id}/caption.jsonl",
            },
        }
        if with_result:
            out["result"] = self.result
        return out

    def record(self) -> dict[str, Any]:
        """What the state folder keeps of this job (its crops are stored beside it)."""
        evidence = [ev.model_dump(mode="json", exclude={"images"}) for ev in self.evidence]
        return {**self.view(), "owner": self.owner, "started": self.started, "finished": self.finished,
                "evidence": evidence}  # fmt: skip


def job_from_record(record: dict[str, Any], crops: dict[str, bytes]) -> CaptionJob:
    """A job read back from the state folder; one that was still going when the server stopped is an error now."""
    from emoreason.schema import Evidence, MediaResult

    job = CaptionJob(record["id"], record["owner"], record["name"], None, None, record.get("duration"))
    for key in ("status", "stage", "progress", "created", "started", "finished", "error", "result"):
        setattr(job, key, record.get(key, getattr(job, key)))
    if job.status in ACTIVE:
        job.status, job.error, job.finished = "error", "the server stopped before this job finished", time.time()
    if job.result is not None:
        job.media = MediaResult.model_validate(job.result)
    job.evidence = [Evidence.model_validate(ev) for ev in record.get("evidence", [])]
    job.crops = crops
    return job


def _die_with_parent() -> None:
    """Ask Linux to kill this process when the server dies, even by SIGKILL (elsewhere: a no-op)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_loop(inbox: Any, outbox: Any) -> None:
    """The perception process: for each (path, options, video id, caps) from ``inbox``, send ("progress", stage,
    share) messages and then ("done", perception) or ("error", message) on ``outbox``. Stays warm between jobs.
    ``caps`` (max_pixels, max_seconds) hold for the frames and audio as decoded, not as the header says."""
    _die_with_parent()
    from emoreason.perception import media
    from emoreason.pipelines.video import perceive_video

    frames, audio = media.iter_frames, media.iter_audio
    state: dict[str, Any] = {"duration": 1.0, "last": 0.0, "caps": {}}

    def report(stage: str, at: float) -> None:
        now = time.monotonic()
        if now - state["last"] > 0.25:
            state["last"] = now
            outbox.put(("progress", stage, min(1.0, at / state["duration"])))

    def frames_with_progress(*args: Any, **kwargs: Any) -> Any:
        for frame in frames(*args, **state["caps"], **kwargs):
            report("faces", frame.time)
            yield frame

    def audio_with_progress(*args: Any, **kwargs: Any) -> Any:
        for start, chunk in audio(*args, max_seconds=state["caps"].get("max_seconds"), **kwargs):
            report("speech", start)
            yield start, chunk

    # perceive_video has no progress hook or decode caps; in this process of our own its two decoders are wrapped
    # to report progress and to hold the server's caps.
    media.iter_frames, media.iter_audio = frames_with_progress, audio_with_progress
    while True:
        path, options, video_id, state["caps"] = inbox.get()
        try:
            state["duration"] = max(media.probe(path).duration or 0.0, 1e-3)
            outbox.put(("done", perceive_video(path, options, video_id)))
        except EmoreasonError as err:
            outbox.put(("error", str(err)))
        except Exception as err:  # noqa: BLE001 - reported as the job's error
            logger.exception("%s: perception failed", path)
            outbox.put(("error", f"{type(err).__name__}: {err}"))


class _Worker:
    """The perception process and its two queues; killed on cancel or timeout, started again when needed."""

    def __init__(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.inbox, self.outbox = context.Queue(), context.Queue()
        self.process = context.Process(target=_worker_loop, args=(self.inbox, self.outbox), daemon=True)
        self.process.start()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=3)
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        for pipe in (self.inbox, self.outbox):
            pipe.close()
            pipe.cancel_join_thread()  # nobody reads them any more: exiting must not wait on their feeder threads


class CaptionJobs:
    """The job table and its runner thread."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.limits: ServeLimits = ctx.limits
        self.jobs: OrderedDict[str, CaptionJob] = OrderedDict()
        self._lock = threading.Lock()
        self._todo: queue.Queue[CaptionJob] = queue.Queue()
        self._runner: threading.Thread | None = None
        self._reserved = 0  # uploads being read under a job slot (reserve)
        self._worker: _Worker | None = None
        self.state = ctx.state  # state.StateFolder
        for record, crops in self.state.load_jobs():
            job = job_from_record(record, crops)
            self.jobs[job.id] = job
            if record.get("status") in ACTIVE:
                self.state.save_job(job.record(), job.crops)
        self._forget_old()

    def check_clip(self, path: Path, shown: str) -> float | None:
        """The clip's duration, after the header checks (422 not a video, 413 too long or too many pixels)."""
        from emoreason.perception import media

        try:
            info = media.probe(path)
        except EmoreasonError as err:
            raise ApiError(422, str(err).replace(str(path), shown)) from err
        if not info.has_video:
            raise ApiError(422, f"{shown} has no video stream; caption needs a video track")
        if info.duration and info.duration > self.limits.video_seconds:
            raise ApiError(
                413,
                f"{shown} is {info.duration:.0f} s; this server captions clips up to "
                f"{self.limits.video_seconds:.0f} s (--video-seconds)",
                "video_too_long",
            )
        if info.width * info.height > self.limits.max_pixels:
            raise ApiError(
                413, f"{shown} frames are {info.width}x{info.height}, over the pixel cap", "image_too_large"
            )
        return info.duration

    def _check_room(self) -> None:
        """ApiError 429 when ``video_jobs`` are queued, running or reserved (call with the lock held)."""
        active = [j for j in self.jobs.values() if j.status in ACTIVE]
        if len(active) + self._reserved >= self.limits.video_jobs:
            left = sum((j.duration or 10.0) for j in active) + 10.0 * self._reserved
            raise ApiError(
                429,
                f"{len(active) + self._reserved} caption jobs are queued, running or uploading (the cap is "
                f"{self.limits.video_jobs}); retry later",
                "server_busy",
                retry_after=max(1, math.ceil(left)),
            )

    @contextmanager
    def reserve(self) -> Iterator[object]:
        """A job slot taken before the upload is read (ApiError 429 when none is free), for :meth:`submit`."""
        with self._lock:
            self._check_room()
            self._reserved += 1
        slot = object()
        try:
            yield slot
        finally:
            with self._lock:
                self._reserved -= 1

    def submit(
        self, path: Path, name: str, options: Any, duration: float | None, owner: str, slot: object | None = None
    ) -> CaptionJob:
        """Queue a job for ``path``; ``slot`` from :meth:`reserve` (without one, the cap is checked here)."""
        with self._lock:
            if slot is None:
                self._check_room()
            job = CaptionJob(secrets.token_urlsafe(12), owner, name, path, options, duration)
            self.jobs[job.id] = job
            self.state.save_job(job.record(), {})  # a record of it, should the server die before it ends
            self._forget_old()
            if self._runner is None or not self._runner.is_alive():
                self._runner = threading.Thread(target=self._run, name="emoreason-caption", daemon=True)
                self._runner.start()
        self._todo.put(job)
        return job

    def add_finished(
        self, name: str, owner: str, result: Any, evidence: list[Any], crops: dict[str, bytes]
    ) -> CaptionJob:
        """A caption made elsewhere (a stopped live session) kept as a finished job: its result, subtitles and
        evidence are fetched as an uploaded clip's are. It takes no job slot (nothing is left to run)."""
        with self._lock:
            job = CaptionJob(secrets.token_urlsafe(12), owner, name, None, None, result.duration)
            job.status, job.stage, job.progress = "done", "done", 1.0
            job.started, job.finished = job.created, time.time()
            job.media, job.evidence, job.crops = result, evidence, crops
            job.result = result.model_dump(mode="json")
            self.jobs[job.id] = job
            self.state.save_job(job.record(), job.crops)
            self._forget_old()
        return job

    def _forget_old(self) -> None:
        finished = [j for j in self.jobs.values() if j.status not in ACTIVE]
        for job in finished[: max(0, len(finished) - self.limits.jobs_kept)]:
            del self.jobs[job.id]
            self.state.delete_job(job.id)

    def owned(self, owner: str) -> list[CaptionJob]:
        """``owner``'s jobs, oldest first."""
        return [job for job in list(self.jobs.values()) if job.owner == owner]

    def get(self, job_id: str, owner: str) -> CaptionJob:
        job = self.jobs.get(job_id)
        if job is None or job.owner != owner:
            raise ApiError(404, f"no caption job {job_id!r} (finished jobs are kept for a while; the newest only)")
        return job

    def cancel(self, job_id: str, owner: str) -> CaptionJob:
        job = self.get(job_id, owner)
        if job.status in ACTIVE:
            job.cancel.set()
            if job.status == "queued":
                self._finish(job, "cancelled", None)
        return job

    def remove(self, job_id: str, owner: str) -> None:
        self.cancel(job_id, owner)
        with self._lock:
            self.jobs.pop(job_id, None)
            self.state.delete_job(job_id)

    def _finish(self, job: CaptionJob, status: str, error: str | None) -> None:
        """End ``job`` (the first call wins: a shutdown and the runner may both try) and store it."""
        with self._lock:
            if job.finished is not None:
                return
            job.status, job.error, job.finished = status, error, time.time()
            job.stage = "done" if status == "done" else job.stage
            if job.path is not None:
                shutil.rmtree(job.path.parent, ignore_errors=True)
            if job.id in self.jobs:
                self.state.save_job(job.record(), job.crops)

    def close(self) -> None:
        """At shutdown: end the jobs still going (stored as errors) and stop the perception process."""
        for job in [j for j in list(self.jobs.values()) if j.status in ACTIVE]:
            job.cancel.set()
            self._finish(job, "error", "the server stopped before this job finished")
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()

    def _run(self) -> None:
        while True:
            job = self._todo.get()
            if job.status != "queued":
                continue
            try:
                self._run_one(job)
            except Exception as err:  # noqa: BLE001 - one job's failure must not stop the runner
                logger.exception("caption job %s failed", job.id)
                self._finish(job, "error", f"{type(err).__name__}: {err}")

    def _perceive(self, job: CaptionJob) -> Any:
        """Run perception in the worker process; None when cancelled, timed out or failed (the job is finished)."""
        if self._worker is None or not self._worker.process.is_alive():
            self._worker = _Worker()
        worker = self._worker
        caps = {"max_pixels": self.limits.max_pixels, "max_seconds": self.limits.video_seconds}
        worker.inbox.put((str(job.path), job.options, job.id, caps))
        deadline = time.monotonic() + self.limits.video_timeout_s
        while True:
            stop = None
            if job.cancel.is_set():
                stop = ("cancelled", None)
            elif time.monotonic() > deadline:
                stop = ("error", f"stopped after {self.limits.video_timeout_s:.0f} s (--video-timeout-s)")
            if stop:
                worker.kill()  # the only way to stop a decode midway; the next job starts a fresh process
                self._worker = None
                self._finish(job, *stop)
                return None
            try:
                kind, *rest = worker.outbox.get(timeout=0.2)
            except queue.Empty:
                if not worker.process.is_alive():
                    self._worker = None
                    self._finish(job, "error", f"perception stopped (exit code {worker.process.exitcode})")
                    return None
                continue
            if kind == "progress":
                job.stage, share = rest
                job.progress = 0.05 + (0.15 * share if job.stage == "speech" else 0.15 + 0.75 * share)
            elif kind == "error":
                self._finish(job, "error", rest[0].replace(str(job.path), job.name))
                return None
            else:
                return rest[0]

    def _run_one(self, job: CaptionJob) -> None:
        from emoreason.pipelines.video import reason_video

        job.status, job.stage, job.started = "running", "starting", time.time()
        perception = self._perceive(job)
        if perception is None:
            return
        job.stage, job.progress = "reasoning", 0.95
        while True:  # wait our turn on the work queue rather than be refused
            try:
                result = self.ctx.queue.call(reason_video, perception, self.ctx.reasoner)
                break
            except ApiError as err:
                if err.status != 429 or job.cancel.is_set():
                    raise
                time.sleep(min(5, err.retry_after or 1))
        if job.cancel.is_set():
            self._finish(job, "cancelled", None)
            return
        result.path = result.id = job.name
        job.media, job.evidence, job.crops = result, perception.evidence, perception.crops
        job.result = result.model_dump(mode="json")
        job.progress = 1.0
        self._finish(job, "done", None)

    def evidence_for_chat(self, job_id: str, owner: str, with_images: bool) -> tuple[list[Any], str]:
        """A copy of a finished job's Evidence (with its face crops when the backend looks at images)."""
        from emoreason.pipelines.video import attach_crops

        job = self.get(job_id, owner)
        if job.status != "done":
            raise ApiError(409, f"caption job {job_id} is {job.status}; attach it once it is done")
        evidence = [ev.model_copy(update={"images": []}) for ev in job.evidence]
        return (attach_crops(evidence, job.crops) if with_images else evidence), job.name

    def subtitles(self, job_id: str, owner: str, style: str = "vtt") -> str:
        """The job's emotion subtitles as WebVTT (or SRT) text."""
        from emoreason.pipelines.video import subtitles_text

        job = self.get(job_id, owner)
        if job.media is None:
            raise ApiError(409, f"caption job {job_id} is {job.status}; subtitles come with the result")
        return subtitles_text(job.media, style)
