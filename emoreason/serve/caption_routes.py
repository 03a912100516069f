"""The caption-job routes of ``emoreason serve``: ``POST /v1/caption`` starts a job for one uploaded clip, ``GET``
lists jobs or gives one's stage, progress and result, ``.../subtitles.vtt`` its emotion subtitles, ``.../cancel``
stops it and ``DELETE`` forgets it. The jobs themselves run in :mod:`emoreason.serve.jobs`.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint annotations, which name the lazily imported
# fastapi module, at definition time.
import shutil
import tempfile
from pathlib import Path
from typing import Any

from emoreason.serve.context import ServeContext, save_upload
from emoreason.serve.limits import ApiError
from emoreason.serve.owners import owner_of


def add_routes(app: Any, ctx: ServeContext, deps: list[Any]) -> None:
    """Add the /v1/caption routes to ``app`` (FastAPI is there: ``create_app`` checked)."""
    import fastapi
    from fastapi.responses import JSONResponse, PlainTextResponse
    from starlette.concurrency import run_in_threadpool

    from emoreason.labels import LABEL_SETS

    @app.post("/v1/caption", tags=["caption"], status_code=202, dependencies=deps)
    async def caption(
        request: fastapi.Request,
        file: fastapi.UploadFile = fastapi.File(..., description="a video clip"),  # noqa: B008
        label_set_: str = fastapi.Form(ctx.label_set, alias="label_set"),  # noqa: B008
        fps: float = fastapi.Form(4.0, ge=0.5, le=10.0, description="frames sampled per second"),  # noqa: B008
        window: float | None = fastapi.Form(None, ge=1.0, le=60.0, description="fixed windows (s)"),  # noqa: B008
        no_speech: bool = fastapi.Form(False, description="skip speech and prosody"),  # noqa: B008
    ) -> JSONResponse:
        """Start a caption job for one clip (at most --video-seconds long); poll GET /v1/caption/{id}."""
        from emoreason.pipelines.video import VideoOptions

        if label_set_ not in LABEL_SETS:
            raise ApiError(422, f"label_set must be one of {', '.join(LABEL_SETS)}, not {label_set_!r}")
        folder = Path(tempfile.mkdtemp(prefix="emoreason-serve-"))
        try:
            path = await run_in_threadpool(save_upload, file, folder, "clip.mp4")
            duration = await run_in_threadpool(ctx.jobs.check_clip, path, path.name)
            options = VideoOptions(
                fps=fps, window=window, no_speech=no_speech, label_set=label_set_, face_model=ctx.face_model
            )
            job = ctx.jobs.submit(path, path.name, options, duration, owner_of(request))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return JSONResponse(job.view(), 202)

    @app.get("/v1/caption", tags=["caption"], dependencies=deps)
    def jobs(request: fastapi.Request) -> dict[str, Any]:
        """Your caption jobs (your key's, or your client token's), newest last, without their results."""
        return {"jobs": [job.view(with_result=False) for job in ctx.jobs.owned(owner_of(request))]}

    @app.get("/v1/caption/{job_id}", tags=["caption"], dependencies=deps)
    def job(job_id: str, request: fastapi.Request) -> dict[str, Any]:
        """A job's status, stage and progress (0..1); ``result`` is the caption JSON once ``status`` is done."""
        return ctx.jobs.get(job_id, owner_of(request)).view()

    @app.get("/v1/caption/{job_id}/subtitles.vtt", tags=["caption"], dependencies=deps)
    def subtitles(job_id: str, request: fastapi.Request) -> PlainTextResponse:
        """The finished job's emotion subtitles (WebVTT)."""
        return PlainTextResponse(ctx.jobs.subtitles(job_id, owner_of(request)), media_type="text/vtt")

    @app.post("/v1/caption/{job_id}/cancel", tags=["caption"], dependencies=deps)
    def cancel(job_id: str, request: fastapi.Request) -> dict[str, Any]:
        """Cancel a queued or running job (its perception process is stopped)."""
        return ctx.jobs.cancel(job_id, owner_of(request)).view()

    @app.delete("/v1/caption/{job_id}", tags=["caption"], dependencies=deps)
    def forget(job_id: str, request: fastapi.Request) -> dict[str, bool]:
        """Cancel a job if it is still going, and forget it."""
        ctx.jobs.remove(job_id, owner_of(request))
        return {"deleted": True}
