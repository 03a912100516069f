"""The HTTP API and web UI behind ``emoreason serve`` (FastAPI; ``pip install 'emoreason[serve]'``).

Endpoints (JSON unless noted):

- ``GET /``: the web UI, one static page that calls the endpoints below.
- ``GET /health``: ``{"status": "ok", "backend": ..., "version": ...}``.
- ``POST /v1/analyze``: multipart ``files`` (one or more photos), optional form field ``label_set``. Returns
  ``{"results": [...]}``, one object per file with exactly the fields of ``emoreason analyze --json``; a bad file
  is a result with ``status: error``, never an HTTP error.
- ``POST /v1/sessions``: start a chat (``{"session": ID}``). ``POST /v1/sessions/{ID}/image`` (multipart ``file``)
  attaches a photo, ``POST /v1/sessions/{ID}/ask`` (``{"question": ...}``) answers with the history, ``DELETE``
  ends it. A session is the REPL's :class:`~emoreason.chat.ChatSession`, so chat behaves the same everywhere.

One reasoner serves every request; requests that reach it are serialised (model backends are not thread-safe).
Uploads go to a private temporary folder and are deleted after the request. For scale, run a vLLM OpenAI server
and ``--backend openai`` behind this, not more copies of a local model.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint annotations, which name the lazily imported
# fastapi module, at definition time.
import logging
import os
import secrets
import shutil
import tempfile
import threading
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MAX_FILES = 16
MAX_SESSIONS = 64  # oldest sessions are dropped past this


def _import_fastapi() -> Any:
    try:
        import fastapi
    except ImportError as err:
        raise EmoreasonError("emoreason serve needs FastAPI and uvicorn: pip install 'emoreason[serve]'") from err
    return fastapi


class _Sessions:
    """Chat sessions by id, oldest dropped first once there are more than ``MAX_SESSIONS``."""

    def __init__(self, reasoner: Any, label_set: str) -> None:
        self.reasoner, self.label_set = reasoner, label_set
        self.items: OrderedDict[str, Any] = OrderedDict()

    def new(self) -> str:
        from emoreason.chat import ChatSession

        sid = secrets.token_urlsafe(12)
        self.items[sid] = ChatSession(self.reasoner, label_set=self.label_set, write=lambda _text: None)
        while len(self.items) > MAX_SESSIONS:
            self.items.popitem(last=False)
        return sid

    def get(self, sid: str) -> Any:
        fastapi = _import_fastapi()
        if sid not in self.items:
            raise fastapi.HTTPException(404, f"no chat session {sid!r}; start one with POST /v1/sessions")
        self.items.move_to_end(sid)
        return self.items[sid]


def _save_upload(upload: Any, folder: Path) -> Path:
    """Write one UploadFile into ``folder`` under its own (sanitised) name; refuses oversized files."""
    fastapi = _import_fastapi()
    name = Path(upload.filename or "upload").name or "upload"
    target = folder / name
    counter = 1
    while target.exists():
        target = folder / f"{target.stem}_{counter}{target.suffix}"
        counter += 1
    size = 0
    with open(target, "wb") as sink:
        while chunk := upload.file.read(1 << 20):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise fastapi.HTTPException(413, f"{name} is over {MAX_UPLOAD_BYTES >> 20} MB; send a smaller image")
            sink.write(chunk)
    return target


def _scrub(text: str, folder: Path) -> str:
    """``text`` without the server's upload folder, so replies name files as the client sent them."""
    return text.replace(str(folder) + os.sep, "")


def create_app(reasoner: Any, label_set: str = "compound", face_model: str | None = None) -> Any:
    """The FastAPI app serving ``reasoner`` (any backend from ``reasoning.base.build_reasoner``)."""
    fastapi = _import_fastapi()
    from fastapi.responses import HTMLResponse

    from emoreason import __version__
    from emoreason.agent import ImageOptions, analyze_paths, result_record
    from emoreason.reasoning.prompts import LABEL_SETS

    app = fastapi.FastAPI(title="emoreason", version=__version__, docs_url="/docs", redoc_url=None)
    lock = threading.Lock()
    sessions = _Sessions(reasoner, label_set)
    page = resources.files("emoreason.serve").joinpath("index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "backend": getattr(reasoner, "name", "?"), "version": __version__}

    @app.post("/v1/analyze")
    def analyze(
        files: list[fastapi.UploadFile] = fastapi.File(..., description="one or more photos"),  # noqa: B008
        label_set_: str = fastapi.Form(label_set, alias="label_set"),  # noqa: B008
    ) -> dict[str, Any]:
        if label_set_ not in LABEL_SETS:
            raise fastapi.HTTPException(422, f"label_set must be one of {', '.join(LABEL_SETS)}, not {label_set_!r}")
        if len(files) > MAX_FILES:
            raise fastapi.HTTPException(413, f"at most {MAX_FILES} files per request; got {len(files)}")
        folder = Path(tempfile.mkdtemp(prefix="emoreason-serve-"))
        try:
            paths = [_save_upload(f, folder) for f in files]
            options = ImageOptions(face_model=face_model, label_set=label_set_)
            with lock:
                results = [result_record(r) for r in analyze_paths(paths, reasoner, options)]
            for record, upload in zip(results, files, strict=True):
                record["path"] = Path(upload.filename or "upload").name  # never leak the server's temp paths
                if record["error"]:
                    record["error"] = _scrub(record["error"], folder)
            return {"results": results}
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @app.post("/v1/sessions")
    def new_session() -> dict[str, str]:
        return {"session": sessions.new()}

    @app.post("/v1/sessions/{sid}/image")
    def attach(sid: str, file: fastapi.UploadFile = fastapi.File(...)) -> dict[str, Any]:  # noqa: B008
        session = sessions.get(sid)
        folder = Path(tempfile.mkdtemp(prefix="emoreason-serve-"))
        said: list[str] = []
        try:
            path = _save_upload(file, folder)
            session.write = said.append
            before = len(session.evidence)
            with lock:
                session.attach_image(str(path))
            for ev in session.evidence[before:]:  # the upload's own name in replies, not the server's temp path
                ev.meta["path"] = path.name
        except EmoreasonError as err:
            raise fastapi.HTTPException(422, _scrub(str(err), folder)) from err
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # the crops are already in memory
        faces = [{"aus": ev.aus, "au_text": ev.au_text, "box": ev.meta.get("box")} for ev in session.evidence]
        message = _scrub(" ".join(said), folder)
        return {"attached": bool(session.evidence), "message": message, "faces": faces}

    @app.post("/v1/sessions/{sid}/ask")
    def ask(sid: str, body: dict[str, Any] = fastapi.Body(...)) -> dict[str, Any]:  # noqa: B008
        session = sessions.get(sid)
        question = str(body.get("question") or "").strip()
        if not question:
            raise fastapi.HTTPException(422, 'send {"question": "..."}')
        session.write = lambda _text: None
        session.write_piece = None
        try:
            with lock:
                reply = session.ask(question)
        except EmoreasonError as err:
            raise fastapi.HTTPException(502, str(err)) from err
        return {"reply": reply, "turns": len(session.transcript)}

    @app.delete("/v1/sessions/{sid}")
    def end_session(sid: str) -> dict[str, bool]:
        sessions.get(sid)
        del sessions.items[sid]
        return {"ended": True}

    return app


def serve(reasoner: Any, host: str = "127.0.0.1", port: int = 8000, label_set: str = "compound") -> None:
    """Run the app with uvicorn until interrupted."""
    _import_fastapi()
    import uvicorn

    from emoreason.perception.model_file import resolve_face_landmarker

    face_model = str(resolve_face_landmarker(None))  # fail now, not on the first request
    uvicorn.run(create_app(reasoner, label_set, face_model), host=host, port=port, log_level="info")
