"""The chat-session routes of ``emoreason serve``: ``POST /v1/sessions`` starts one, ``.../image`` and ``.../video``
attach a photo or a finished caption job's video, ``.../ask`` answers, ``.../feedback`` records that the last
answer was wrong and the right label (:mod:`emoreason.review.feedback`), ``DELETE`` ends it. A session is the
REPL's :class:`~emoreason.chat.session.ChatSession` (held in :mod:`emoreason.serve.sessions`), so chat behaves the
same everywhere.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint annotations, which name the lazily imported
# fastapi module, at definition time.
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StrictStr, StringConstraints

from emoreason.errors import EmoreasonError
from emoreason.serve.context import ServeContext, checked_image, client_of, scrub
from emoreason.serve.limits import ApiError
from emoreason.serve.owners import owner_of
from emoreason.serve.uploads import form_schema, read_form


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=100)]
    face: int | None = None


class AttachVideoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job: StrictStr


def add_routes(app: Any, ctx: ServeContext, deps: list[Any]) -> None:
    """Add the /v1/sessions routes to ``app`` (FastAPI is there: ``create_app`` checked)."""
    import fastapi
    from starlette.concurrency import run_in_threadpool

    from emoreason.chat.session import SessionFull
    from emoreason.review.store import Full

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
        return {"session": ctx.sessions.new(owner_of(request), client_of(request))}

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

    photo = form_schema({"file": {"type": "string", "format": "binary", "description": "a photo"}}, ["file"])

    @app.post("/v1/sessions/{sid}/image", tags=["sessions"], dependencies=deps, openapi_extra=photo)
    async def attach(sid: str, request: fastapi.Request) -> dict[str, Any]:
        """Attach a photo: its faces (all of them, up to --max-faces) and their AUs join the conversation."""
        with (
            ctx.sessions.hold(sid, owner_of(request)) as session,  # the session and a queue slot before the body
            ctx.queue.reserve() as ticket,
            ctx.upload_folder() as folder,
        ):
            (path, *_) = (await read_form(request, folder, 1)).paths("file") or [None]
            if path is None:
                raise ApiError(422, "file: Field required (a photo, multipart field 'file')")
            await run_in_threadpool(checked_image, path, ctx.limits, path.name)
            said: list[str] = []

            def work() -> dict[str, Any]:
                session.write, before = said.append, len(session.evidence)
                session.attach_image(str(path))
                for ev in session.evidence[before:]:  # the upload's own name, not the server's temp path
                    ev.meta["path"] = path.name
                return attached(session, [scrub(s, folder) for s in said], before)

            return await ctx.queue.run(run_chat(work, folder), ticket=ticket, request=request)

    @app.post("/v1/sessions/{sid}/video", tags=["sessions"], dependencies=deps)
    async def attach_video(sid: str, body: AttachVideoRequest, request: fastapi.Request) -> dict[str, Any]:
        """Attach a finished caption job's video (``{"job": ID}`` from POST /v1/caption) to the conversation."""
        from emoreason.reasoning.base import needs_images

        with ctx.sessions.hold(sid, owner_of(request)) as session:
            evidence, name = ctx.jobs.evidence_for_chat(body.job, owner_of(request), needs_images(ctx.reasoner))
            said: list[str] = []

            def work() -> dict[str, Any]:
                session.write, before = said.append, len(session.evidence)
                session.attach_video_evidence(evidence, name)
                return attached(session, said, before)

            return await ctx.queue.run(run_chat(work), request=request)

    @app.post("/v1/sessions/{sid}/ask", tags=["sessions"], dependencies=deps)
    async def ask(sid: str, body: AskRequest, request: fastapi.Request) -> dict[str, Any]:
        """Ask about the attached media; the reply answers this question from the evidence and the history."""
        from emoreason.chat import answers as chat_answers

        with ctx.sessions.hold(sid, owner_of(request)) as session:
            if len(body.question) > ctx.limits.question_chars:
                raise ApiError(
                    422, f"the question is {len(body.question)} characters; at most {ctx.limits.question_chars}"
                )

            def work() -> dict[str, Any]:
                session.write, session.write_piece = (lambda _text: None), None
                reply = session.ask(body.question)
                faces = chat_answers.reading(session.last_items) if ctx.backend == "rules" else []
                return {"reply": reply, "turns": len(session.transcript), "faces": faces}

            return await ctx.queue.run(run_chat(work, backend_error=502), request=request)

    @app.post("/v1/sessions/{sid}/feedback", tags=["sessions"], dependencies=deps)
    def feedback(sid: str, body: FeedbackRequest, request: fastapi.Request) -> dict[str, Any]:
        """The last answer was wrong: record the right ``label`` (and ``face`` when it was about several) as a
        review decision by you, in the server's feedback folder (``emoreason review export`` makes DPO pairs)."""
        with ctx.sessions.hold(sid, owner_of(request)) as session:
            session.feedback, session.reviewer = ctx.feedback_store(), owner_of(request)
            try:
                decision = session.correct(body.label, body.face, via="api")
            except Full as err:
                raise ApiError(429, str(err), "review_full") from err
            except EmoreasonError as err:
                raise ApiError(422, str(err)) from err
            return {"recorded": True, "row": decision["row"], "label": decision["label"]}

    @app.delete("/v1/sessions/{sid}", tags=["sessions"], dependencies=deps)
    def end_session(sid: str, request: fastapi.Request) -> dict[str, bool]:
        ctx.sessions.end(sid, owner_of(request))
        return {"ended": True}
