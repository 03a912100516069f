"""The caption-job routes of ``emoreason serve``: ``POST /v1/caption`` starts a job for one uploaded clip, ``GET``
lists jobs or gives one's stage, progress and result, ``.../subtitles.vtt`` its emotion subtitles, ``.../cancel``
stops it and ``DELETE`` forgets it. The jobs themselves run in :mod:`emoreason.serve.jobs`.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint annotations, which name the lazily imported
# fastapi module, at definition time.
import shutil
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from emoreason.serve.context import ServeContext
from emoreason.serve.limits import ApiError
from emoreason.serve.owners import owner_of
from emoreason.serve.uploads import form_schema, read_form


class CaptionForm(BaseModel):
    """The caption settings a POST /v1/caption form may carry (besides ``file`` and ``label_set``)."""

    model_config = ConfigDict(extra="forbid")
    fps: float = Field(4.0, ge=0.5, le=10.0, description="frames sampled per second")
    sampling: Literal["adaptive", "fixed"] = Field(
        "adaptive", description="adaptive: the landmarker reads every 3rd frame and more where the reading changes"
    )
    window: float | None = Field(None, ge=1.0, le=60.0, description="fixed windows (s)")
    no_speech: bool = Field(False, description="skip speech and prosody")


def add_routes(app: Any, ctx: ServeContext, deps: list[Any]) -> None:
    """Add the /v1/caption routes to ``app`` (FastAPI is there: ``create_app`` checked)."""
    import fastapi
    from fastapi.responses import JSONResponse, PlainTextResponse
    from starlette.concurrency import run_in_threadpool

    from emoreason.labels import LABEL_SETS

    body = form_schema(
        {
            "file": {"type": "string", "format": "binary", "description": "a video clip"},
            "label_set": {"type": "string", "enum": list(LABEL_SETS), "default": ctx.label_set},
            **CaptionForm.model_json_schema()["properties"],
        },
        ["file"],
    )

    @app.post("/v1/caption", tags=["caption"], status_code=202, dependencies=deps, openapi_extra=body)
    async def caption(request: fastapi.Request) -> JSONResponse:
        """Start a caption job for one clip (at most --video-seconds long); poll GET /v1/caption/{id}."""
        from pydantic import ValidationError

        from emoreason.pipelines.video_options import VideoOptions

        with ctx.jobs.reserve() as slot:  # the job cap first: a refused upload reads nothing
            folder = ctx.state.upload_folder()
            try:
                form = await read_form(request, folder, 1, fallback="clip.mp4")
                label_set = form.fields.pop("label_set", ctx.label_set)
                if label_set not in LABEL_SETS:
                    raise ApiError(422, f"label_set must be one of {', '.join(LABEL_SETS)}, not {label_set!r}")
                try:
                    settings = CaptionForm.model_validate({k: v for k, v in form.fields.items() if v != ""})
                except ValidationError as err:
                    problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()]
                    raise ApiError(422, "; ".join(problems)) from None
                (path, *_) = form.paths("file") or [None]
                if path is None:
                    raise ApiError(422, "file: Field required (a video clip, multipart field 'file')")
                duration = await run_in_threadpool(ctx.jobs.check_clip, path, path.name)
                options = VideoOptions(
                    **settings.model_dump(), **ctx.speech, label_set=label_set, face_model=ctx.face_model
                )
                job = ctx.jobs.submit(path, path.name, options, duration, owner_of(request), slot)
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

    @app.get("/v1/caption/{job_id}/subtitles.srt", tags=["caption"], dependencies=deps)
    def subtitles_srt(job_id: str, request: fastapi.Request) -> PlainTextResponse:
        """The finished job's emotion subtitles (SubRip)."""
        text = ctx.jobs.subtitles(job_id, owner_of(request), "srt")
        return PlainTextResponse(text, media_type="application/x-subrip")

    @app.get("/v1/caption/{job_id}/caption.jsonl", tags=["caption"], dependencies=deps)
    def caption_line(job_id: str, request: fastapi.Request) -> PlainTextResponse:
        """The finished job's result as the one JSON line ``emoreason caption`` writes for a video."""
        import json

        job = ctx.jobs.get(job_id, owner_of(request))
        if job.result is None:
            raise ApiError(409, f"caption job {job_id} is {job.status}; the caption comes with the result")
        return PlainTextResponse(json.dumps(job.result) + "\n", media_type="application/jsonl")

    @app.post("/v1/caption/{job_id}/cancel", tags=["caption"], dependencies=deps)
    def cancel(job_id: str, request: fastapi.Request) -> dict[str, Any]:
        """Cancel a queued or running job (its perception process is stopped)."""
        return ctx.jobs.cancel(job_id, owner_of(request)).view()

    @app.delete("/v1/caption/{job_id}", tags=["caption"], dependencies=deps)
    def forget(job_id: str, request: fastapi.Request) -> dict[str, bool]:
        """Cancel a job if it is still going, and forget it."""
        ctx.jobs.remove(job_id, owner_of(request))
        return {"deleted": True}
