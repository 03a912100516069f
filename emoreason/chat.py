"""The multi-turn chat REPL behind ``emoreason chat``: attach faces (``/image``, ``/video``), ask about them.

Attached media go through perception; each face crop becomes an image part of the next user turn, followed by its
measured evidence (AU text, transcript, prosody) from the one prompt source. Model backends answer with the whole
history and stream where they can; the rules backend has no free-form language, so it answers every question with
its FACS analysis of the attached faces and says so. Reads lines from any text stream, so it works when piped.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.reasoning.prompts import chat_system_prompt, render_chat_evidence
from emoreason.schema import Evidence

logger = logging.getLogger(__name__)

MAX_IMAGES_PER_ATTACHMENT = 4
HELP = """Commands:
  /image PATH   attach a photo: its faces, Action Units and crops are added to the conversation
  /video PATH   attach a video: face tracks, AUs over time, speech and prosody
  /reset        forget the conversation and the attached media
  /save FILE    save the conversation as JSON
  /help         this help
  /quit         leave (Ctrl-D works too)
Anything else is a question about the attached face(s)."""
RULES_NOTE = (
    "(The rules backend gives its FACS analysis of the attached face; free-form questions need an LLM backend: "
    "--backend hf --model DIR, or --backend openai --base-url URL --model NAME.)"
)


@dataclass
class ChatSession:
    """One conversation: the HF-format history, the images its image parts refer to, and a saveable transcript."""

    reasoner: Any
    label_set: str = "compound"
    face_model: str | None = None
    write: Callable[[str], None] = print  # one finished line/block
    write_piece: Callable[[str], None] | None = None  # streamed text, no newline added (default: ``write``)
    history: list[dict[str, Any]] = field(default_factory=list)
    images: list[Any] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    _pending: list[dict[str, Any]] = field(default_factory=list)
    _pending_images: list[Any] = field(default_factory=list)
    _pending_sources: list[str] = field(default_factory=list)

    @property
    def backend(self) -> str:
        return str(getattr(self.reasoner, "name", "?"))

    # -- commands --------------------------------------------------------------------------------------------
    def handle(self, line: str) -> bool:
        """Handle one input line; False means quit. Errors a user can cause are printed, never raised."""
        line = line.strip()
        if not line:
            return True
        command, _, arg = line.partition(" ")
        arg = arg.strip().strip("'\"")
        try:
            if command in ("/quit", "/exit", "/q"):
                return False
            if command == "/help":
                self.write(HELP)
            elif command == "/reset":
                self.reset()
                self.write("Conversation and attachments cleared.")
            elif command == "/save":
                self.write(f"Saved {self.save(arg)}")
            elif command == "/image":
                self.attach_image(arg)
            elif command == "/video":
                self.attach_video(arg)
            elif command.startswith("/"):
                self.write(f"Unknown command {command}; /help lists the commands.")
            else:
                self.ask(line)
        except EmoreasonError as err:
            self.write(f"error: {err}")
        return True

    def reset(self) -> None:
        self.history, self.images, self.evidence, self.transcript = [], [], [], []
        self._pending, self._pending_images, self._pending_sources = [], [], []

    def save(self, path: str) -> Path:
        """Write the transcript as JSON, atomically."""
        if not path:
            raise EmoreasonError("/save needs a file name, e.g. /save chat.json")
        target = Path(path).expanduser()
        if not target.parent.exists():
            raise EmoreasonError(f"/save {path}: folder {target.parent} does not exist")
        record = {"backend": self.backend, "model": getattr(self.reasoner, "model_name", None) or getattr(
            self.reasoner, "model", None), "turns": self.transcript}  # fmt: skip
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as sink:
                json.dump(record, sink, indent=2, ensure_ascii=False, default=str)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    def attach_image(self, path: str) -> None:
        """Perceive a photo and queue its face crops + evidence for the next question."""
        from emoreason.agent import ImageOptions, face_evidence, perceive_image
        from emoreason.perception.model_file import resolve_face_landmarker

        if not path:
            raise EmoreasonError("/image needs a path, e.g. /image photo.jpg")
        if self.face_model is None:
            self.face_model = str(resolve_face_landmarker(None))
        options = ImageOptions(
            face_model=self.face_model, label_set=self.label_set, num_faces=MAX_IMAGES_PER_ATTACHMENT
        )
        faces = perceive_image(path, options, with_crops=True)
        if not faces:
            self.write(f"No face found in {path}; nothing attached.")
            return
        name = Path(path).name
        evidence = [face_evidence(Path(path), i, face, self.label_set) for i, face in enumerate(faces)]
        sources = [f"{name}, face {i + 1} of {len(faces)}" if len(faces) > 1 else name for i in range(len(faces))]
        self._attach(evidence, sources, str(path))

    def attach_video(self, path: str) -> None:
        """Perceive a video (tracks, AUs, speech) and queue its segments' evidence for the next question."""
        try:
            from emoreason.video import video_evidence
        except ImportError as err:
            raise EmoreasonError(f"video support is not installed here ({err}); attach photos with /image") from err
        if not path:
            raise EmoreasonError("/video needs a path, e.g. /video clip.mp4")
        evidence = video_evidence(path, label_set=self.label_set)
        if not evidence:
            self.write(f"No face track found in {path}; nothing attached.")
            return
        name = Path(path).name
        sources = [f"{name}, track {ev.track}" if ev.track is not None else name for ev in evidence]
        self._attach(evidence, sources, str(path))

    def _attach(self, evidence: list[Evidence], sources: list[str], path: str) -> None:
        images_left = MAX_IMAGES_PER_ATTACHMENT
        for ev, source in zip(evidence, sources, strict=True):
            shown = ev.model_copy(update={"images": list(ev.images[: max(0, min(1, images_left))])})
            images_left -= len(shown.images)
            self._pending += [{"type": "image"} for _ in shown.images]
            self._pending.append({"type": "text", "text": render_chat_evidence(shown, source) + "\n"})
            self._pending_images += shown.images
        self.evidence += evidence
        self._pending_sources.append(path)
        self.write(f"Attached {path}: {_summary(evidence)}")

    # -- answering -------------------------------------------------------------------------------------------
    def ask(self, question: str) -> str:
        """Answer one question with the history; streams to ``write`` where the backend can stream."""
        content = self._pending + [{"type": "text", "text": question}]
        turn = {"role": "user", "content": content}
        self.transcript.append({"role": "user", "text": question, "attachments": self._pending_sources})
        if self.backend == "rules":
            reply = self._rules_reply()
        else:
            reply = self._model_reply(turn, self.images + self._pending_images)
        self.history.append(turn)
        self.images += self._pending_images
        self._pending, self._pending_images, self._pending_sources = [], [], []
        self.history.append({"role": "assistant", "content": [{"type": "text", "text": reply}]})
        self.transcript.append({"role": "assistant", "text": reply})
        return reply

    def _model_reply(self, turn: dict[str, Any], images: list[Any]) -> str:
        system = {"role": "system", "content": [{"type": "text", "text": chat_system_prompt()}]}
        messages = [system, *self.history, turn]
        if hasattr(self.reasoner, "stream_chat"):
            pieces = []
            emit = self.write_piece or self.write
            for piece in self.reasoner.stream_chat(messages, images):
                pieces.append(piece)
                emit(piece)
            if self.write_piece:
                self.write_piece("\n")
            return "".join(pieces)
        if hasattr(self.reasoner, "generate_texts"):
            reply = self.reasoner.generate_texts([messages], [images])[0]
            self.write(reply)
            return reply
        raise EmoreasonError(f"the {self.backend} backend can't chat; use --backend hf or openai")

    def _rules_reply(self) -> str:
        from emoreason.reasoning.parser import parse_output

        if not self.evidence:
            reply = "Attach a face first with /image PATH (or /video PATH). " + RULES_NOTE
            self.write(reply)
            return reply
        blocks = []
        for ev, reasoning in zip(self.evidence, self.reasoner.reason(self.evidence), strict=True):
            sections = parse_output(reasoning.raw).sections
            where = ev.meta.get("path") or ev.id
            if ev.start is not None and ev.end is not None:
                where = f"{where} {ev.start:.1f}-{ev.end:.1f} s"
            lines = [f"{where}: {reasoning.label or 'no label'}"]
            lines += [f"  {title}: {sections[key]}" for key, title in _SECTION_TITLES if sections.get(key)]
            blocks.append("\n".join(lines))
        reply = "\n".join(blocks) + "\n" + RULES_NOTE
        self.write(reply)
        return reply


_SECTION_TITLES = (
    ("key_observations", "Key observations"),
    ("overall_interpretation", "Overall interpretation"),
    ("conclusion", "Conclusion"),
)


def _summary(evidence: list[Evidence]) -> str:
    if len(evidence) == 1:
        return evidence[0].au_text or "no Action Units measured"
    faces = {ev.meta.get("face_index", ev.track) for ev in evidence}
    return f"{len(evidence)} segments/faces ({len(faces)} distinct); first: {evidence[0].au_text or 'no AUs'}"


def run_repl(session: ChatSession, lines: Iterable[str], prompt: Callable[[], None] | None = None) -> ChatSession:
    """Feed lines to the session until /quit or end of input."""
    if prompt:
        prompt()
    for line in lines:
        if not session.handle(line):
            break
        if prompt:
            prompt()
    return session
