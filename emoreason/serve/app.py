"""The HTTP API and web UI behind ``emoreason serve`` (FastAPI; ``pip install 'emoreason[serve]'``).

Endpoints (JSON unless noted; the full reference is ``/docs``, offline):

- ``GET /``: the web UI, one static page that calls the endpoints below. ``GET /health``: status, queue, limits.
- ``POST /v1/chat/completions`` and ``GET /v1/models``: OpenAI-compatible (:mod:`emoreason.serve.openai_api`).
- ``POST /v1/analyze``: multipart ``files`` (photos), optional form field ``label_set``. Returns
  ``{"results": [...], "notes": [...]}``, one object per file with exactly the fields of ``emoreason analyze
  --json``; a bad file (unreadable, over the pixel cap) is a result with ``status: error``, never an HTTP error.
- ``POST /v1/sessions`` starts a chat (``{"session": ID}``); ``POST /v1/sessions/{ID}/image`` (multipart ``file``)
  attaches a photo, ``POST /v1/sessions/{ID}/video`` (``{"job": JOB}``) a finished caption job's video,
  ``POST /v1/sessions/{ID}/ask`` (``{"question": ...}``) answers with the history, ``DELETE`` ends it. A session is
  the REPL's :class:`~emoreason.chat.ChatSession`, so chat behaves the same everywhere.
- ``POST /v1/caption`` (multipart ``file``: a video) starts a caption job (202, ``{"id", "status", ...}``);
  ``GET /v1/caption/{ID}`` gives its stage, progress and, when done, the result in the ``caption`` JSON shape;
  ``GET .../subtitles.vtt`` its emotion subtitles; ``POST .../cancel`` stops it; ``DELETE`` forgets it.

Every request meets the limits of :mod:`emoreason.serve.limits` before any work (Host/Origin, the API key, the
body cap while it streams, content types, the pixel cap from image headers), then waits its turn on the one
bounded work queue (:mod:`emoreason.serve.work`; 429 with Retry-After when full). Errors are JSON in OpenAI's shape
with the message also under ``detail``. Uploads go to a private temporary folder, under safe names, deleted after
the request. For scale, run a vLLM OpenAI server and ``--backend openai`` behind this, not more copies of a model.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint annotations, which name the lazily imported
# fastapi module, at definition time.
import dataclasses
import logging
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StrictStr, StringConstraints

from emoreason.errors import EmoreasonError
from emoreason.serve.context import ServeContext, checked_image, client_of, save_upload, scrub, upload_folder
from emoreason.serve.limits import AccessGuard, AccessPolicy, ApiError, BodyLimit, ServeLimits, error_body, is_loopback

logger = logging.getLogger(__name__)

FORM, JSON = "multipart/form-data", "application/json"
_JSON_POSTS = re.compile(r"^/v1/(chat/completions|sessions/[^/]+/(ask|video))$")
_FORM_POSTS = re.compile(r"^/v1/(analyze|caption|sessions/[^/]+/image)$")


def _import_fastapi() -> Any:
    try:
        import fastapi
    except ImportError as err:
        raise EmoreasonError("emoreason serve needs FastAPI and uvicorn: pip install 'emoreason[serve]'") from err
    return fastapi


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]


class AttachVideoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job: StrictStr


def body_rule(limits: ServeLimits) -> Any:
    """(method, path) -> (body cap in bytes, the content type the route takes) for :class:`BodyLimit`."""

    def rule(method: str, path: str) -> tuple[int, str | None]:
        cap = limits.max_video_bytes if path == "/v1/caption" else limits.max_body_bytes
        if method != "POST":
            return cap, None
        return cap, JSON if _JSON_POSTS.match(path) else FORM if _FORM_POSTS.match(path) else None

    return rule


def _add_error_handlers(app: Any) -> None:
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(ApiError)
    async def api_error(_request: Any, err: ApiError) -> JSONResponse:
        return JSONResponse(error_body(err.status, err.message, err.code), err.status, headers=err.headers())

    @app.exception_handler(HTTPException)
    async def http_error(_request: Any, err: HTTPException) -> JSONResponse:
        return JSONResponse(error_body(err.status_code, str(err.detail)), err.status_code, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Any, err: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in err.errors()]
        body = error_body(422, "; ".join(problems[:5]) or "invalid request")
        body["errors"] = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in err.errors()]
        return JSONResponse(body, 422)

    @app.exception_handler(Exception)
    async def crashed(_request: Any, err: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return JSONResponse(error_body(500, f"internal error ({type(err).__name__}); see the server log"), 500)


def _analyze_job(ctx: ServeContext, paths: list[Path], label_set: str, folder: Path) -> tuple[list[dict], list[str]]:
    from emoreason.pipelines.image import ImageOptions, analyze_paths, result_record

    options = ImageOptions(face_model=ctx.face_model, label_set=label_set, num_faces=ctx.limits.max_faces + 1)
    records, notes = [], []
    for result in analyze_paths(paths, ctx.reasoner, options):
        record = result_record(result)
        if len(record["faces"]) > ctx.limits.max_faces:
            record["faces"] = record["faces"][: ctx.limits.max_faces]
            notes.append(
                f"{Path(record['path']).name}: more than {ctx.limits.max_faces} faces; the first "
                f"{ctx.limits.max_faces} are reported (--max-faces)"
            )
        records.append(record)
    return records, notes


def _add_analyze(app: Any, ctx: ServeContext, deps: list[Any]) -> None:
    fastapi = _import_fastapi()
    from starlette.concurrency import run_in_threadpool

    from emoreason.labels import LABEL_SETS

    def save_all(files: list[Any], folder: Path) -> list[tuple[Path, str | None]]:
        out = []
        for upload in files:
            path = save_upload(upload, folder)
            try:
                checked_image(path, ctx.limits, path.name)
                out.append((path, None))
            except ApiError as err:
                out.append((path, err.message))
        return out

    @app.post("/v1/analyze", tags=["analyze"], dependencies=deps)
    async def analyze(
        files: list[fastapi.UploadFile] = fastapi.File(..., description="one or more photos"),  # noqa: B008
        label_set_: str = fastapi.Form(ctx.label_set, alias="label_set"),  # noqa: B008
    ) -> dict[str, Any]:
        """Analyze photos: one result per file, exactly the fields of ``emoreason analyze --json``."""
        if label_set_ not in LABEL_SETS:
            raise ApiError(422, f"label_set must be one of {', '.join(LABEL_SETS)}, not {label_set_!r}")
        if len(files) > ctx.limits.max_files:
            raise ApiError(413, f"at most {ctx.limits.max_files} files per request (--max-files); got {len(files)}")
        with upload_folder() as folder:
            saved = await run_in_threadpool(save_all, files, folder)
            good = [path for path, error in saved if error is None]
            records, notes = await ctx.queue.run(_analyze_job, ctx, good, label_set_, folder) if good else ([], [])
            by_path = dict(zip(good, records, strict=True))
            results = []
            for path, error in saved:
                record = by_path.get(path) or {"path": "", "status": "error", "error": error, "faces": []}
                record["path"] = path.name  # the upload's safe name, never the server's temp path
                if record["error"]:
                    record["error"] = scrub(record["error"], folder)
                results.append(record)
            return {"results": results, "notes": [scrub(n, folder) for n in notes]}


def _add_sessions(app: Any, ctx: ServeContext, deps: list[Any]) -> None:
    fastapi = _import_fastapi()
    from starlette.concurrency import run_in_threadpool

    from emoreason.chat import SessionFull

    def run_chat(fn: Any, folder: Path | None = None, backend_error: int = 422) -> Any:
        def job() -> Any:
            try:
                return fn()
            except SessionFull as err:
                raise ApiError(409, str(err), "session_full") from err
            except EmoreasonError as err:
                raise ApiError(backend_error, scrub(str(err), folder) if folder else str(err)) from err

        return job

    @app.post("/v1/sessions", tags=["sessions"], dependencies=deps)
    def new_session(request: fastapi.Request) -> dict[str, str]:
        """Start a chat session (the REPL's ChatSession); idle sessions end after --session-idle-min."""
        return {"session": ctx.sessions.new(client_of(request))}

    def attached(session: Any, said: list[str], before: int) -> dict[str, Any]:
        new = session.evidence[before:]
        faces = [
            {
                "face": i + 1,
                "aus": ev.aus,
                "au_text": ev.au_text,
                "box": ev.meta.get("box"),
                "start": ev.start,
                "end": ev.end,
            }
            for i, ev in enumerate(new)
        ]
        return {"attached": bool(new), "message": " ".join(said), "faces": faces}

    @app.post("/v1/sessions/{sid}/image", tags=["sessions"], dependencies=deps)
    async def attach(sid: str, file: fastapi.UploadFile = fastapi.File(...)) -> dict[str, Any]:  # noqa: B008
        """Attach a photo: its faces (all of them, up to --max-faces) and their AUs join the conversation."""
        session = ctx.sessions.get(sid)
        with upload_folder() as folder:
            path = await run_in_threadpool(save_upload, file, folder)
            await run_in_threadpool(checked_image, path, ctx.limits, path.name)
            said: list[str] = []

            def work() -> dict[str, Any]:
                session.write, before = said.append, len(session.evidence)
                session.attach_image(str(path))
                for ev in session.evidence[before:]:  # the upload's own name, not the server's temp path
                    ev.meta["path"] = path.name
                return attached(session, [scrub(s, folder) for s in said], before)

            return await ctx.queue.run(run_chat(work, folder))

    @app.post("/v1/sessions/{sid}/video", tags=["sessions"], dependencies=deps)
    async def attach_video(sid: str, body: AttachVideoRequest) -> dict[str, Any]:
        """Attach a finished caption job's video (``{"job": ID}`` from POST /v1/caption) to the conversation."""
        from emoreason.reasoning.base import needs_images

        session = ctx.sessions.get(sid)
        evidence, name = ctx.jobs.evidence_for_chat(body.job, needs_images(ctx.reasoner))
        said: list[str] = []

        def work() -> dict[str, Any]:
            session.write, before = said.append, len(session.evidence)
            session.attach_video_evidence(evidence, name)
            return attached(session, said, before)

        return await ctx.queue.run(run_chat(work))

    @app.post("/v1/sessions/{sid}/ask", tags=["sessions"], dependencies=deps)
    async def ask(sid: str, body: AskRequest) -> dict[str, Any]:
        """Ask about the attached media; the reply answers this question from the evidence and the history."""
        from emoreason import chat_answers

        session = ctx.sessions.get(sid)
        if len(body.question) > ctx.limits.question_chars:
            raise ApiError(
                422, f"the question is {len(body.question)} characters; at most {ctx.limits.question_chars}"
            )

        def work() -> dict[str, Any]:
            session.write, session.write_piece = (lambda _text: None), None
            reply = session.ask(body.question)
            faces = chat_answers.reading(session.last_items) if ctx.backend == "rules" else []
            return {"reply": reply, "turns": len(session.transcript), "faces": faces}

        return await ctx.queue.run(run_chat(work, backend_error=502))

    @app.delete("/v1/sessions/{sid}", tags=["sessions"], dependencies=deps)
    def end_session(sid: str) -> dict[str, bool]:
        ctx.sessions.end(sid)
        return {"ended": True}


def _add_caption(app: Any, ctx: ServeContext, deps: list[Any]) -> None:
    fastapi = _import_fastapi()
    from fastapi.responses import JSONResponse, PlainTextResponse
    from starlette.concurrency import run_in_threadpool

    from emoreason.labels import LABEL_SETS

    @app.post("/v1/caption", tags=["caption"], status_code=202, dependencies=deps)
    async def caption(
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
            job = ctx.jobs.submit(path, path.name, options, duration)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return JSONResponse(job.view(), 202)

    @app.get("/v1/caption", tags=["caption"], dependencies=deps)
    def jobs() -> dict[str, Any]:
        """The caption jobs this server holds, newest last, without their results."""
        return {"jobs": [job.view(with_result=False) for job in list(ctx.jobs.jobs.values())]}

    @app.get("/v1/caption/{job_id}", tags=["caption"], dependencies=deps)
    def job(job_id: str) -> dict[str, Any]:
        """A job's status, stage and progress (0..1); ``result`` is the caption JSON once ``status`` is done."""
        return ctx.jobs.get(job_id).view()

    @app.get("/v1/caption/{job_id}/subtitles.vtt", tags=["caption"], dependencies=deps)
    def subtitles(job_id: str) -> PlainTextResponse:
        """The finished job's emotion subtitles (WebVTT)."""
        return PlainTextResponse(ctx.jobs.subtitles(job_id), media_type="text/vtt")

    @app.post("/v1/caption/{job_id}/cancel", tags=["caption"], dependencies=deps)
    def cancel(job_id: str) -> dict[str, Any]:
        """Cancel a queued or running job (its perception process is stopped)."""
        return ctx.jobs.cancel(job_id).view()

    @app.delete("/v1/caption/{job_id}", tags=["caption"], dependencies=deps)
    def forget(job_id: str) -> dict[str, bool]:
        """Cancel a job if it is still going, and forget it."""
        ctx.jobs.remove(job_id)
        return {"deleted": True}


def create_app(
    reasoner: Any,
    label_set: str = "compound",
    face_model: str | None = None,
    limits: ServeLimits | None = None,
    access: AccessPolicy | None = None,
) -> Any:
    """The FastAPI app serving ``reasoner`` (any backend from ``reasoning.base.build_reasoner``), wrapped in the
    access guard and the body cap. ``access`` defaults to loopback Host names and no key."""
    fastapi = _import_fastapi()
    from fastapi.responses import HTMLResponse
    from fastapi.security import HTTPBearer

    from emoreason import __version__
    from emoreason.serve import docs, openai_api
    from emoreason.serve.jobs import CaptionJobs

    limits = limits or ServeLimits()
    access = access or AccessPolicy()
    ctx = ServeContext(reasoner, label_set, face_model, limits)
    ctx.jobs = CaptionJobs(ctx)
    app = fastapi.FastAPI(title="emoreason", version=__version__, docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    # Declares the bearer scheme in the OpenAPI docs (an "Authorize" button); AccessGuard does the checking.
    deps = [fastapi.Depends(HTTPBearer(auto_error=False, description="the --api-key, when the server has one"))]
    page = resources.files("emoreason.serve").joinpath("index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness, the backend, whether a key is needed, the work queue and the limits in force."""
        return {
            "status": "ok",
            "backend": ctx.backend,
            "model": ctx.model_id,
            "version": __version__,
            "auth": bool(access.api_key),
            "queue": ctx.queue.stats(),
            "limits": dataclasses.asdict(limits),
        }

    _add_error_handlers(app)
    openai_api.add_routes(app, ctx, deps)
    _add_analyze(app, ctx, deps)
    _add_sessions(app, ctx, deps)
    _add_caption(app, ctx, deps)
    docs.add_docs(app)
    app.add_middleware(BodyLimit, rule=body_rule(limits))
    app.add_middleware(AccessGuard, policy=access)  # added last, so it runs first: no body is read before it
    return app


def access_policy(
    host: str, api_key: str | None, allow_hosts: list[str], allow_origins: list[str], allow_no_auth: bool
) -> AccessPolicy:
    """The policy for binding to ``host``: refuses a non-loopback address without a key unless ``allow_no_auth``."""
    if not is_loopback(host) and not api_key and not allow_no_auth:
        raise EmoreasonError(
            f"--host {host} exposes the server to your network, and it has no API key: pass --api-key KEY (or set "
            "EMOREASON_API_KEY), or --allow-no-auth if every machine that can reach it may use it"
        )
    hosts: set[str] | None = None
    if is_loopback(host) or allow_hosts:
        from emoreason.serve.limits import LOOPBACK_NAMES

        hosts = {*LOOPBACK_NAMES, *(h.lower() for h in allow_hosts)}
        if host not in ("0.0.0.0", "::"):
            hosts.add(host.strip("[]").lower())
    return AccessPolicy(api_key=api_key or None, hosts=hosts, origins={o.rstrip("/") for o in allow_origins})


def serve(
    reasoner: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    label_set: str = "compound",
    limits: ServeLimits | None = None,
    access: AccessPolicy | None = None,
) -> None:
    """Run the app with uvicorn until interrupted."""
    _import_fastapi()
    import uvicorn

    from emoreason.perception.model_file import resolve_face_landmarker

    face_model = str(resolve_face_landmarker(None))  # fail now, not on the first request
    if not is_loopback(host):
        logger.warning(
            "listening on %s: anyone who can reach this machine can connect%s; traffic is plain HTTP (put TLS in "
            "front for anything but a trusted network)",
            host,
            "" if access and access.api_key else " WITHOUT a key",
        )
    uvicorn.run(create_app(reasoner, label_set, face_model, limits, access), host=host, port=port, log_level="info")
