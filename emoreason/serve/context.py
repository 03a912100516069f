"""What every route shares: the one reasoner, the limits, the work queue, the sessions and the caption jobs, plus
the upload helpers (safe names, private temporary folders, the pixel check)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoreason.serve.limits import ServeLimits, check_image, safe_name, unique_path
from emoreason.serve.sessions import SessionStore
from emoreason.serve.state import StateFolder
from emoreason.serve.work import WorkQueue


@dataclass
class ServeContext:
    reasoner: Any
    label_set: str
    face_model: str | None
    limits: ServeLimits
    state: StateFolder
    speech: dict[str, Any] = field(default_factory=dict)  # caption jobs' whisper and language (serve --whisper)
    queue: WorkQueue = field(init=False)
    sessions: SessionStore = field(init=False)
    jobs: Any = None  # jobs.CaptionJobs, set by create_app
    review: Any = None  # review.store.ReviewStore of --review DIR, set by create_app
    _feedback: Any = None  # the chat corrections' store (feedback_store)

    def __post_init__(self) -> None:
        self.queue = WorkQueue(self.limits.queue, self.limits.timeout_s)
        self.sessions = SessionStore(self.new_chat, self.limits)

    @property
    def backend(self) -> str:
        return str(getattr(self.reasoner, "name", "?"))

    @property
    def model_id(self) -> str:
        """The id /v1/models lists: ``emoreason-rules``, or the backend's model name."""
        model = getattr(self.reasoner, "model_name", None) or getattr(self.reasoner, "model", None)
        return f"emoreason-{self.backend}" if not isinstance(model, str) else Path(model).name or model

    def feedback_store(self) -> Any:
        """The feedback folder of chat corrections (``state/feedback``), bounded like the review store."""
        if self._feedback is None:
            from emoreason.review.feedback import open_feedback

            caps = {"max_reviewers": self.limits.review_reviewers, "max_decisions": 10_000}
            self._feedback = open_feedback(self.state.path / "feedback", self.label_set, **caps)
        return self._feedback

    def close(self) -> None:
        """At shutdown: stop the caption jobs and their worker process, the work queue, then the state folder."""
        if self.jobs is not None:
            self.jobs.close()
        self.queue.close()
        self.state.close()

    @contextmanager
    def upload_folder(self) -> Iterator[Path]:
        """A private folder (in the state folder's ``uploads``) for one request's uploads, removed afterwards."""
        folder = self.state.upload_folder()
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def new_chat(self) -> Any:
        """A ChatSession with the server's per-session caps; it writes nowhere (routes collect what it says)."""
        from emoreason.chat.session import ChatSession

        return ChatSession(
            self.reasoner,
            label_set=self.label_set,
            face_model=self.face_model,
            write=lambda _text: None,
            max_faces=self.limits.max_faces,
            max_attachments=self.limits.session_attachments,
            max_turns=self.limits.session_turns,
            max_question_chars=self.limits.question_chars,
        )


def save_bytes(data: bytes, folder: Path, name: str) -> Path:
    target = unique_path(folder, safe_name(name))
    target.write_bytes(data)
    return target


def checked_image(path: Path, limits: ServeLimits, shown: str) -> Path:
    """``path`` after the header checks: pixels and decode memory (ApiError 413 over a cap)."""
    check_image(path, limits, shown)
    return path


def scrub(text: str, folder: Path) -> str:
    """``text`` without the server's upload folder, so replies name files as the client sent them."""
    return text.replace(str(folder) + os.sep, "").replace(str(folder), "")


def client_of(request: Any) -> str:
    return request.client.host if request.client else "?"
