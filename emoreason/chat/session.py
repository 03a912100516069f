"""The multi-turn chat REPL behind ``emoreason chat``: attach faces (``/image``, ``/video``), ask about them.

Attached media go through perception; each face crop becomes an image part of the next user turn, followed by its
measured evidence (AU text, transcript, prosody) from the one prompt source. Every face found is attached (up to
``max_faces``, and the reply says when more were found). Model backends answer with the whole history and stream
where they can; the rules backend has no free-form language, so it reads the question for what it asks (why, which
AUs, which face, when, how sure, what was said; :mod:`emoreason.chat.answers`) and answers that from the evidence of
the latest attachment. Reads lines from any text stream, so it works when piped. The same session class serves the
REPL, the HTTP session routes and ``/v1/chat/completions``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoreason import pipelines
from emoreason.chat import answers as chat_answers
from emoreason.errors import EmoreasonError
from emoreason.io import atomic_write_json
from emoreason.reasoning.prompts import chat_system_prompt, render_chat_evidence
from emoreason.schema import Evidence

logger = logging.getLogger(__name__)

MAX_IMAGES_PER_ATTACHMENT = 4  # face images a model backend sees per attachment; further faces go as AU text
MAX_FACES = pipelines.MAX_FACES  # faces attached per photo (--max-faces)
DEFAULT_QUESTION = "What emotion does the face show, and why?"
HELP = """Commands:
  /image PATH   attach a photo: its faces, Action Units and crops are added to the conversation
  /video PATH   attach a video: face tracks, AUs over time, speech and prosody
  /wrong LABEL [FACE]  the last answer was wrong: record the right label (for review export and train dpo)
  /reset        forget the conversation and the attached media
  /save FILE    save the conversation as JSON
  /help         this help
  /quit         leave (Ctrl-D works too)
Anything else is a question about the attached face(s)."""
RULES_NOTE = (
    "(The rules backend answers from its FACS analysis: ask why, which AUs, about face 2, at 5 s, how sure, what was "
    "said; free-form questions need an LLM backend: --backend hf --model DIR, or --backend openai --base-url URL "
    "--model NAME.)"
)


class SessionFull(EmoreasonError):
    """A per-session cap (attachments, turns) is reached: start a new conversation."""


@dataclass
class _Attachment:
    name: str
    evidence: list[Evidence]
    faces: list[int]  # 1-based face number of each Evidence (a video's tracks in order; 0: no face visible)
    items: list[chat_answers.Item] | None = None  # the rule engine's reading, made on the first question


@dataclass
class ChatSession:
    """One conversation: the HF-format history, the images its image parts refer to, and a saveable transcript."""

    reasoner: Any
    label_set: str = "compound"
    face_model: str | None = None
    whisper: str | None = None  # /video's speech (VideoOptions.whisper, language)
    language: str | None = None
    write: Callable[[str], None] = print  # one finished line/block
    write_piece: Callable[[str], None] | None = None  # streamed text, no newline added (default: ``write``)
    stream_end: str = "\n"  # written to ``write_piece`` after a streamed reply (the HTTP API wants none)
    max_faces: int = MAX_FACES
    max_attachments: int | None = None  # None: no cap (the REPL); the server sets its caps
    max_turns: int | None = None
    max_question_chars: int | None = None
    feedback: Any = None  # review.store.ReviewStore of a feedback folder, for /wrong (None: the default folder)
    reviewer: str = "chat"  # who /wrong records as the reviewer (the server: the request's owner)
    history: list[dict[str, Any]] = field(default_factory=list)
    images: list[Any] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    _pending: list[dict[str, Any]] = field(default_factory=list)
    _pending_images: list[Any] = field(default_factory=list)
    _pending_sources: list[str] = field(default_factory=list)
    attachments: list[_Attachment] = field(default_factory=list)
    last_items: list[chat_answers.Item] = field(default_factory=list)  # what the last rules reply was about
    _focus_face: int | None = None
    _focus_span: tuple[float, float] | None = None

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
            elif command == "/wrong":
                label, _, face = arg.rpartition(" ") if arg.rsplit(" ", 1)[-1].isdigit() else (arg, "", "")
                decision = self.correct(label, int(face) if face else None)
                self.write(f"Recorded: {decision['label']}, not what I said. Saved for review in "
                           f"{self.feedback.folder} (emoreason review export {self.feedback.folder} --out DIR).")
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
        self.attachments, self.last_items, self._focus_face, self._focus_span = [], [], None, None

    def save(self, path: str) -> Path:
        """Write the transcript as JSON, atomically."""
        if not path:
            raise EmoreasonError("/save needs a file name, e.g. /save chat.json")
        target = Path(path).expanduser()
        if not target.parent.exists():
            raise EmoreasonError(f"/save {path}: folder {target.parent} does not exist")
        record = {"backend": self.backend, "model": getattr(self.reasoner, "model_name", None) or getattr(
            self.reasoner, "model", None), "turns": self.transcript}  # fmt: skip
        atomic_write_json(target, record, indent=2, ensure_ascii=False, default=str)
        return target

    def attach_image(self, path: str) -> None:
        """Perceive a photo and queue its face crops + evidence for the next question."""
        from emoreason.perception.model_file import resolve_face_landmarker
        from emoreason.pipelines.image import ImageOptions, face_evidence, perceive_image
        from emoreason.reasoning.base import needs_images

        if not path:
            raise EmoreasonError("/image needs a path, e.g. /image photo.jpg")
        self._check_room()
        if self.face_model is None:
            self.face_model = str(resolve_face_landmarker(None))
        # one more than we keep, so that a photo with more faces than max_faces is said, not silently cut
        options = ImageOptions(face_model=self.face_model, label_set=self.label_set, num_faces=self.max_faces + 1)
        faces = perceive_image(path, options, with_crops=needs_images(self.reasoner))
        if not faces:
            self.write(f"No face found in {path}; nothing attached.")
            return
        notes = []
        if len(faces) > self.max_faces:
            faces = faces[: self.max_faces]
            notes.append(f"more than {self.max_faces} faces found; the first {self.max_faces} are attached")
        name = Path(path).name
        evidence = [face_evidence(Path(path), i, face, self.label_set) for i, face in enumerate(faces)]
        sources = [f"{name}, face {i + 1} of {len(faces)}" if len(faces) > 1 else name for i in range(len(faces))]
        self._attach(evidence, sources, str(path), list(range(1, len(faces) + 1)), notes)

    def attach_video(self, path: str) -> None:
        """Perceive a video (tracks, AUs, speech) and queue its segments' evidence for the next question."""
        try:
            from emoreason.pipelines.video import video_evidence
        except ImportError as err:
            raise EmoreasonError(f"video support is not installed here ({err}); attach photos with /image") from err
        if not path:
            raise EmoreasonError("/video needs a path, e.g. /video clip.mp4")
        self._check_room()
        evidence = video_evidence(path, label_set=self.label_set, whisper=self.whisper, language=self.language)
        self.attach_video_evidence(evidence, str(path))

    def attach_video_evidence(self, evidence: list[Evidence], path: str) -> None:
        """Attach a perceived video's Evidence (``pipelines.video.video_evidence``; the server reuses a caption
        job's)."""
        self._check_room()
        if not evidence:
            self.write(f"No face track found in {path}; nothing attached.")
            return
        name = Path(path).name
        tracks = sorted({ev.track for ev in evidence if ev.track is not None})
        faces = [tracks.index(ev.track) + 1 if ev.track is not None else 0 for ev in evidence]
        sources = [f"{name}, face {face}" if face else name for face in faces]
        no_words = {ev.meta["no_words"] for ev in evidence if ev.meta.get("no_words")}  # pipelines/video.py
        self._attach(evidence, sources, path, faces, sorted(no_words))

    def _check_room(self) -> None:
        if self.max_attachments is not None and len(self.attachments) >= self.max_attachments:
            raise SessionFull(
                f"this conversation already has {len(self.attachments)} attachments (the cap is "
                f"{self.max_attachments}); start a new conversation"
            )

    def _attach(
        self, evidence: list[Evidence], sources: list[str], path: str, faces: list[int], notes: list[str]
    ) -> None:
        from emoreason.reasoning.base import needs_images

        images_left = MAX_IMAGES_PER_ATTACHMENT
        without_image = 0  # Evidence (faces of a photo, windows of a video) whose crop is left out
        for ev, source in zip(evidence, sources, strict=True):
            shown = ev.model_copy(update={"images": list(ev.images[: max(0, min(1, images_left))])})
            images_left -= len(shown.images)
            without_image += bool(ev.images and not shown.images)
            self._pending += [{"type": "image"} for _ in shown.images]
            self._pending.append({"type": "text", "text": render_chat_evidence(shown, source) + "\n"})
            self._pending_images += shown.images
        if without_image and needs_images(self.reasoner):  # the rule engine reads no image: nothing to say
            kind = "windows" if any(ev.start is not None for ev in evidence) else "faces"
            notes.append(
                f"the model sees the first {MAX_IMAGES_PER_ATTACHMENT} face images of this attachment; the other "
                f"{without_image} {kind} reach it as AU text only"
            )
        self.evidence += evidence
        self.attachments.append(_Attachment(Path(path).name, evidence, faces))
        self._focus_face = self._focus_span = None
        self._pending_sources.append(path)
        summary = _summary(evidence, faces)
        self.write(f"Attached {path}: {summary}" + "".join(f" Note: {n}." for n in notes))

    def correct(self, label: str, face: int | None = None, via: str = "chat") -> dict[str, Any]:
        """Record that the last answer about ``face`` (needed when it was about several) was wrong and ``label`` is
        right, as a review decision in the feedback folder; returns the saved decision."""
        from emoreason.reasoning.parser import parse_output
        from emoreason.review.feedback import default_feedback_dir, open_feedback, record_correction

        if not label.strip():
            raise EmoreasonError("say the right label, e.g. /wrong anger (or /wrong anger 2 for face 2)")
        if not self.transcript:
            raise EmoreasonError("there is no answer to correct yet; attach a face and ask first")
        if self.last_items:
            items = self.last_items if face is None else [i for i in self.last_items if i.face == face]
            if len(items) != 1:
                shown = ", ".join(str(i.face) for i in self.last_items)
                raise EmoreasonError(f"the last answer was about faces {shown}; say which: /wrong {label} FACE"
                                     if face is None else f"the last answer was not about face {face}; faces: {shown}")
            evidence, answer, said = items[0].evidence, items[0].reasoning.raw, items[0].reasoning.label
        else:  # a model backend: its reply is the answer, about the latest attachment's face
            if not self.attachments:
                raise EmoreasonError("there is no face to correct; attach one first")
            faces = self.attachments[-1].evidence
            number = face or 1
            if len(faces) > 1 and face is None or not 1 <= number <= len(faces):
                raise EmoreasonError(f"the latest attachment has {len(faces)} faces; say which: /wrong {label} FACE")
            evidence, answer = faces[number - 1], self.transcript[-1]["text"]
            said = parse_output(answer, self.label_set).label  # type: ignore[arg-type]
        if self.feedback is None:
            self.feedback = open_feedback(default_feedback_dir(), self.label_set)
        source = self.attachments[-1].name if self.attachments else ""
        return record_correction(self.feedback, self.reviewer, evidence, answer, said, label, via, source)

    # -- answering -------------------------------------------------------------------------------------------
    def ask(self, question: str, **generation: Any) -> str:
        """Answer one question with the history; streams to ``write`` where the backend can stream.

        ``generation``: settings for a model backend's generate (``max_new_tokens``, ``temperature``, ``top_p``).
        """
        question = question.strip()
        if self.max_question_chars is not None and len(question) > self.max_question_chars:
            raise EmoreasonError(
                f"the question is {len(question)} characters; at most {self.max_question_chars} are taken"
            )
        if self.max_turns is not None and len(self.transcript) // 2 >= self.max_turns:
            raise SessionFull(f"this conversation reached its cap of {self.max_turns} questions; start a new one")
        turn = {"role": "user", "content": self._pending + [{"type": "text", "text": question or DEFAULT_QUESTION}]}
        if self.backend == "rules":
            reply = self._rules_reply(question or DEFAULT_QUESTION)
        else:
            reply = self._model_reply(turn, self.images + self._pending_images, generation)
        self._commit(turn, question, reply)
        return reply

    def record_turn(self, question: str, reply: str) -> None:
        """Add a past exchange as given (a stateless API client sends its history), answering nothing."""
        turn = {"role": "user", "content": self._pending + [{"type": "text", "text": question or DEFAULT_QUESTION}]}
        self._commit(turn, question, reply)

    def _commit(self, turn: dict[str, Any], question: str, reply: str) -> None:
        self.transcript.append({"role": "user", "text": question, "attachments": self._pending_sources})
        self.history.append(turn)
        self.images += self._pending_images
        self._pending, self._pending_images, self._pending_sources = [], [], []
        self.history.append({"role": "assistant", "content": [{"type": "text", "text": reply}]})
        self.transcript.append({"role": "assistant", "text": reply})

    def _model_reply(self, turn: dict[str, Any], images: list[Any], generation: dict[str, Any]) -> str:
        system = {"role": "system", "content": [{"type": "text", "text": chat_system_prompt()}]}
        messages = [system, *self.history, turn]
        if hasattr(self.reasoner, "stream_chat"):
            pieces = []
            emit = self.write_piece or self.write
            for piece in self.reasoner.stream_chat(messages, images, **generation):
                pieces.append(piece)
                emit(piece)
            if self.write_piece and self.stream_end:
                self.write_piece(self.stream_end)
            return "".join(pieces)
        if hasattr(self.reasoner, "generate_texts"):
            reply = self.reasoner.generate_texts([messages], [images], **generation)[0]
            self.write(reply)
            return reply
        raise EmoreasonError(f"the {self.backend} backend can't chat; use --backend hf or openai")

    def _items(self, attachment: _Attachment) -> list[chat_answers.Item]:
        if attachment.items is None:
            if hasattr(self.reasoner, "explain"):  # the rule engine: keep its own scores for "why not X?", "which AU"
                explanations = [self.reasoner.explain(ev) for ev in attachment.evidence]
                readings = [self.reasoner.reasoning(x) for x in explanations]
            else:
                readings = self.reasoner.reason(attachment.evidence)
                explanations = [None] * len(readings)
            attachment.items = [
                chat_answers.Item(ev, reading, face, attachment.name, x)
                for ev, reading, face, x in zip(
                    attachment.evidence, readings, attachment.faces, explanations, strict=True
                )
            ]
        return attachment.items

    def _rules_reply(self, question: str) -> str:
        if not self.attachments:
            reply = "Attach a face first with /image PATH (or /video PATH). " + RULES_NOTE
            self.write(reply)
            return reply
        attachment = next((a for a in reversed(self.attachments) if a.name in question), self.attachments[-1])
        items = self._items(attachment)
        view = chat_answers.focus(question, items, self._focus_face, self._focus_span)
        self._focus_face, self._focus_span = view.face, view.span
        self.last_items = view.items
        reply = chat_answers.answer(question, view, items)
        if not chat_answers.understood(question):  # a question it answered gets no "needs an LLM" note
            reply += "\n" + RULES_NOTE
        self.write(reply)
        return reply


def _summary(evidence: list[Evidence], faces: list[int]) -> str:
    """The attachment summary, shown once when attached: each face's AUs (a photo) or the tracks (a video)."""
    if any(ev.start is not None for ev in evidence):
        tracks = len({f for f in faces if f})
        end = max((ev.end or 0.0) for ev in evidence)
        speech = "with speech" if any(ev.transcript for ev in evidence) else "no speech transcribed"
        return f"{tracks} face track{'s' if tracks != 1 else ''}, {len(evidence)} windows over {end:.1f} s, {speech}."
    if len(evidence) == 1:
        return evidence[0].au_text or "no Action Units measured"
    return f"{len(evidence)} faces. " + " ".join(
        f"Face {face}: {ev.au_text or 'no AUs'}." for ev, face in zip(evidence, faces, strict=True)
    )


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
