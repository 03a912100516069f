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
  the REPL's :class:`~emoreason.chat.session.ChatSession`, so chat behaves the same everywhere.
- ``GET /review`` (the review page) and ``/v1/review/...`` with ``serve --review DIR``: reviewers accept, reject
  and correct a dataset's rows (:mod:`emoreason.serve.review_routes`).
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
import contextlib
import dataclasses
import logging
import re
import threading
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.serve.context import ServeContext, checked_image, scrub
from emoreason.serve.fair import OpenRequests
from emoreason.serve.limits import AccessGuard, AccessPolicy, ApiError, BodyLimit, ServeLimits, error_body, is_loopback
from emoreason.serve.owners import ClientTokens
from emoreason.serve.state import StateFolder
from emoreason.serve.uploads import form_schema, read_form

logger = logging.getLogger(__name__)

FORM, JSON = "multipart/form-data", "application/json"
_JSON_POSTS = re.compile(r"^/v1/(chat/completions|sessions/[^/]+/(ask|video|feedback)|review/decisions)$")
_FORM_POSTS = re.compile(r"^/v1/(analyze|caption|sessions/[^/]+/image)$")


def _import_fastapi() -> Any:
    try:
        import fastapi
    except ImportError as err:
        raise EmoreasonError("emoreason serve needs FastAPI and uvicorn: pip install 'emoreason[serve]'") from err
    return fastapi


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


def _analyze_job(
    ctx: ServeContext, paths: list[Path], label_set: str, folder: Path, stop: threading.Event
) -> tuple[list[dict], list[str]]:
    """One record per photo; stops between photos once ``stop`` is set (no one waits for the answer any more)."""
    from emoreason.pipelines.image import ImageOptions, analyze_paths, result_record

    options = ImageOptions(face_model=ctx.face_model, label_set=label_set, num_faces=ctx.limits.max_faces + 1)
    records, notes = [], []
    for result in analyze_paths(paths, ctx.reasoner, options):
        if stop.is_set():
            break
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

    def check_all(paths: list[Path]) -> list[tuple[Path, str | None]]:
        out = []
        for path in paths:
            try:
                checked_image(path, ctx.limits, path.name)
                out.append((path, None))
            except ApiError as err:
                out.append((path, err.message))
        return out

    body = form_schema(
        {
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": "photos"},
            "label_set": {"type": "string", "enum": list(LABEL_SETS), "default": ctx.label_set},
        },
        ["files"],
    )

    @app.post("/v1/analyze", tags=["analyze"], dependencies=deps, openapi_extra=body)
    async def analyze(request: fastapi.Request) -> dict[str, Any]:
        """Analyze photos: one result per file, exactly the fields of ``emoreason analyze --json``."""
        with ctx.queue.reserve() as ticket, ctx.upload_folder() as folder:  # the slot first: a full queue reads none
            form = await read_form(request, folder, ctx.limits.max_files)
            label_set = form.fields.get("label_set", ctx.label_set)
            if label_set not in LABEL_SETS:
                raise ApiError(422, f"label_set must be one of {', '.join(LABEL_SETS)}, not {label_set!r}")
            if not form.paths("files"):
                raise ApiError(422, "files: Field required (one or more photos, multipart field 'files')")
            saved = await run_in_threadpool(check_all, form.paths("files"))
            good = [path for path, error in saved if error is None]
            records, notes = (
                await ctx.queue.run(
                    _analyze_job, ctx, good, label_set, folder, ticket.abandoned, ticket=ticket, request=request
                )
                if good
                else ([], [])
            )
            by_path = dict(zip(good, records, strict=True))
            results = []
            for path, error in saved:
                record = by_path.get(path) or {"path": "", "status": "error", "error": error, "faces": []}
                record["path"] = path.name  # the upload's safe name, never the server's temp path
                if record["error"]:
                    record["error"] = scrub(record["error"], folder)
                results.append(record)
            return {"results": results, "notes": [scrub(n, folder) for n in notes]}


def create_app(
    reasoner: Any,
    label_set: str = "compound",
    face_model: str | None = None,
    limits: ServeLimits | None = None,
    access: AccessPolicy | None = None,
    state_dir: str | Path | None = None,
    speech: dict[str, str | None] | None = None,
    review_dir: str | Path | None = None,
) -> Any:
    """The FastAPI app serving ``reasoner`` (any backend from ``reasoning.base.build_reasoner``), wrapped in the
    access guard and the body cap. ``access`` defaults to loopback Host names and no key; ``state_dir`` (default:
    a temporary folder) keeps the caption jobs and the token key across restarts (:mod:`emoreason.serve.state`);
    ``speech`` holds the caption jobs' ``whisper`` and ``language`` (``serve --whisper``); ``review_dir`` is the
    dataset the /review page goes through (``serve --review``).
    At shutdown (SIGTERM or SIGINT under uvicorn) the perception worker is stopped and the uploads removed."""
    fastapi = _import_fastapi()
    from fastapi.responses import HTMLResponse
    from fastapi.security import HTTPBearer

    from emoreason import __version__
    from emoreason.serve import caption_routes, docs, json_body, live_routes, openai_api, review_routes, session_routes
    from emoreason.serve.jobs import CaptionJobs

    limits = limits or ServeLimits()
    access = access or AccessPolicy()
    ctx = ServeContext(reasoner, label_set, face_model, limits, StateFolder(state_dir), speech=dict(speech or {}))
    ctx.jobs = CaptionJobs(ctx)
    if review_dir is not None:
        ctx.review = _review_store(review_dir, label_set, limits)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            ctx.close()

    app = fastapi.FastAPI(title="emoreason", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.ctx = ctx
    app.router.route_class = json_body.route_class()  # JSON bodies: a count of values first, parsed in a thread
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
            "auth": bool(access.api_keys),
            "queue": ctx.queue.stats(),
            "limits": dataclasses.asdict(limits),
        }

    _add_error_handlers(app)
    openai_api.add_routes(app, ctx, deps)
    _add_analyze(app, ctx, deps)
    session_routes.add_routes(app, ctx, deps)
    caption_routes.add_routes(app, ctx, deps)
    live_routes.add_routes(app, ctx)
    review_routes.add_routes(app, ctx, deps)
    docs.add_docs(app)
    app.add_middleware(
        BodyLimit,
        rule=body_rule(limits),
        read_timeout_s=limits.read_timeout_s,
        inflight_bytes=limits.client_inflight_bytes,
    )
    # Added last, so it runs first: no body is read before it. It also names each request's owner (owners.py).
    open_requests = OpenRequests(limits.max_connections, limits.connections_per_client)
    app.add_middleware(
        AccessGuard, policy=access, tokens=ClientTokens(ctx.state.secret()), open_requests=open_requests
    )
    return app


def _review_store(folder: str | Path, label_set: str, limits: ServeLimits) -> Any:
    """The store of ``--review DIR``: reviewers and decisions bounded (a client could mint tokens or repeat
    decisions without end)."""
    from emoreason.review.store import ReviewStore

    store = ReviewStore(folder, label_set, limits.review_reviewers)
    store.max_decisions = 10 * len(store.rows.entries) + 1000
    return store


def access_policy(
    host: str, api_keys: list[str], allow_hosts: list[str], allow_origins: list[str], allow_no_auth: bool
) -> AccessPolicy:
    """The policy for binding to ``host``: refuses a non-loopback address without a key unless ``allow_no_auth``."""
    if not is_loopback(host) and not api_keys and not allow_no_auth:
        raise EmoreasonError(
            f"--host {host} exposes the server to your network, and it has no API key: pass --api-key KEY (or set "
            "EMOREASON_API_KEY), or --allow-no-auth if every machine that can reach it may use it"
        )
    # Without a key the Host check is all that stops DNS rebinding, wherever the server listens; with one, a
    # server beyond loopback takes any Host unless --allow-host names them.
    hosts: set[str] | None = None
    names = {h.strip().lower() for entry in allow_hosts for h in entry.split(",") if h.strip()}
    if not api_keys or names or is_loopback(host):
        from emoreason.serve.limits import LOOPBACK_NAMES

        hosts = {*LOOPBACK_NAMES, *names}
        if host not in ("0.0.0.0", "::"):
            hosts.add(host.strip("[]").lower())
    keys = tuple(dict.fromkeys(k for k in api_keys if k))
    return AccessPolicy(api_keys=keys, hosts=hosts, origins={o.rstrip("/") for o in allow_origins})


def read_keys(path: str) -> list[str]:
    """The API keys in a keys file: one per line; blank lines and ``#`` comments are skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise EmoreasonError(f"--api-keys-file {path}: cannot read it ({err.strerror}); pass a file of keys") from None
    keys = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise EmoreasonError(f"--api-keys-file {path} holds no keys; write one key per line")
    return keys


def serve(
    reasoner: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    label_set: str = "compound",
    limits: ServeLimits | None = None,
    access: AccessPolicy | None = None,
    state_dir: str | Path | None = None,
    speech: dict[str, str | None] | None = None,
    review_dir: str | Path | None = None,
) -> None:
    """Run the app with uvicorn until SIGINT or SIGTERM (both stop the workers and remove the uploads)."""
    _import_fastapi()
    import uvicorn

    from emoreason.perception.model_file import resolve_face_landmarker

    face_model = str(resolve_face_landmarker(None))  # fail now, not on the first request
    if not is_loopback(host):
        logger.warning(
            "listening on %s: anyone who can reach this machine can connect%s; traffic is plain HTTP (put TLS in "
            "front for anything but a trusted network)",
            host,
            "" if access and access.api_keys else " WITHOUT a key",
        )
    from emoreason.serve.server import uvicorn_config

    _say_missing_whisper(speech or {})
    app = create_app(reasoner, label_set, face_model, limits, access, state_dir, speech, review_dir)
    uvicorn.Server(uvicorn_config(app, host, port)).run()


def _say_missing_whisper(speech: dict[str, str | None]) -> None:
    """Once at start: caption jobs will have no words without a whisper model, and the fix (``--whisper``)."""
    from emoreason.pipelines.video_options import VideoOptions
    from emoreason.pipelines.video_speech import missing_whisper

    missing = missing_whisper(VideoOptions(whisper=speech.get("whisper")), hint="")
    if missing:
        logger.warning("caption jobs skip speech (their prosody is still read): %s", missing)
