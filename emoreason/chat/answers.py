"""How the rules backend answers a chat question: pick what was asked (why, why not X, is she X, which AUs, which AU
decided, which face, when, how sure, what was said) and answer it from the measured evidence and the rule engine's
reasoning, for the faces in focus; the answers that weigh its scores are in :mod:`emoreason.chat.reading`.

The rule engine has no free-form language, so a question is read for its *intent* and its *focus* (a face number,
a time) with a few patterns; anything else gets the FACS analysis of the faces in focus, with a note saying what
else can be asked. Everything here is text rendering over structured fields (Evidence, Reasoning): nothing parses
the rule engine's reply except to show its three CoT sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emoreason import facs
from emoreason.chat import reading as chat_reading
from emoreason.chat.items import Item
from emoreason.schema import Reasoning
from emoreason.text import join

if TYPE_CHECKING:
    pass

# (intent, pattern) in priority order: the first that matches leads; a question that asks two things ("how many
# faces, and how do they feel?") gets both answers, in this order (``intents_of``).
INTENTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("help", re.compile(r"^\s*(help|\?|what can (i|you) (ask|do|answer))\b", re.I)),
    ("count", re.compile(r"\bhow many (faces|people|persons|tracks)\b", re.I)),
    ("decided", re.compile(r"\b(decid\w*|decisive|tipped|drove|drives|carr(y|ied|ies)|mattered)\b", re.I)),
    ("aus", re.compile(r"\b(action units?|aus?|muscles?|facs codes?)\b|\bAU\d", re.I)),
    ("sure", re.compile(r"\b(sure|confiden\w*|certain\w*|likel\w*|probab\w*|scores?|doubt\w*)\b", re.I)),
    ("speech", re.compile(r"\b(said|say|says|saying|speech|spoken|words?|transcript|voice|prosody|pitch)\b", re.I)),
    ("why", re.compile(r"\b(why|explain\w*|evidence|how do you know|what makes|reason\w*|because)\b", re.I)),
    ("change", re.compile(r"\b(change[sd]?|when|over time|timeline|moment|happen\w*|then|later|earlier)\b", re.I)),
)
# a yes/no question ("is she sad?", "does he look angry?"): with a label named, it asks whether that label holds
_YES_NO = re.compile(r"^\s*(is|are|was|were|does|do|did|could|can|might|may|would|am|isn'?t|aren'?t|doesn'?t)\b|"
                     r"\b(looks?|seems?|appears?)\b", re.I)
_FEELING = re.compile(r"\b(feel\w*|emotions?|mood\w*|expressions?|look like|seem)\b", re.I)  # asks for the label
MAX_INTENTS = 2
_SILENT_ON_LABEL = {"count", "aus", "speech"}  # answers that do not say the label (why, sure and change do)
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8}
_FACE_REF = re.compile(r"\b(?:face|person|people|track|subject)\s*(?:number\s*|no\.?\s*|#\s*)?(\d{1,2})\b", re.I)
_ORDINAL_REF = re.compile(rf"\b({'|'.join(_ORDINALS)}|\d{{1,2}}(?:st|nd|rd|th))\s+(?:face|person|track)\b", re.I)
_ALL_FACES = re.compile(r"\b(all|every|each|everyone|everybody|both)\b", re.I)
_ALL_TIMES = re.compile(r"\b(whole|overall|throughout|entire|all along|over time|timeline|all the time)\b", re.I)
_SECONDS = r"(\d+:\d{2}(?:\.\d+)?|\d+(?:\.\d+)?)"  # 1:02 before 1
_SPAN = re.compile(rf"\b(?:between|from)\s+{_SECONDS}\s*(?:s|sec\w*)?\s*(?:and|to|-)\s*{_SECONDS}\s*(?:s\b|sec)", re.I)
_POINT = re.compile(rf"(?:\bat|\baround|\babout|@)\s*{_SECONDS}\s*(?:s\b|sec\w*|\b)", re.I)
HELP_TEXT = (
    "Ask about the attached faces, for example: 'what emotion?', 'why?', 'why not sadness?', 'is she angry?', "
    "'which AUs?', 'which AU decided?', 'what about face 2?', 'how sure are you?', 'what happens at 5 s?', "
    "'what changed?', 'what did they say?', 'how many faces?'."
)


@dataclass
class Focus:
    """What a question is about: the items in view, and whether a face or a time narrowed them."""

    items: list[Item]
    face: int | None = None
    span: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)
    unknown_face: bool = False  # the question names a face the attachment does not have: the notes are the answer


def intents_of(question: str) -> list[str]:
    """What the question asks, in INTENTS' order, at most ``MAX_INTENTS``: "label" (what emotion) when nothing else
    matches, or as a second part when the question also asks how they feel and the first part does not say it
    (``_SILENT_ON_LABEL``); "help" stands alone. A question that names a label asks whether it holds ("check") when
    it is a yes/no question or asks nothing else ("why not X?" stays "why": that answer weighs X); "decided" (which
    AU decided) includes the AUs.

    >>> intents_of("How many faces, and how do they feel?"), intents_of("how many faces?"), intents_of("why?")
    (['count', 'label'], ['count'], ['why'])
    >>> intents_of("Is she disgusted?"), intents_of("why not sadness?"), intents_of("which AU decided?")
    (['check'], ['why'], ['decided'])
    """
    found = [name for name, pattern in INTENTS if pattern.search(question)]
    if "help" in found:
        return ["help"]
    if "decided" in found and "aus" in found:
        found.remove("aus")
    if chat_reading.named_labels(question, "open") and (_YES_NO.search(question) or not found):
        found.insert(0, "check")
    if _FEELING.search(question) and set(found) <= _SILENT_ON_LABEL:
        found.append("label")
    return found[:MAX_INTENTS] or ["label"]


def understood(question: str) -> bool:
    """Whether the rules backend read the question for something it answers (an intent, a label, a face, a time,
    how they feel); a question it did not understand gets the analysis and the note that an LLM backend answers
    free-form questions.

    >>> understood("why not sadness?"), understood("what about face 3?"), understood("tell me a joke")
    (True, True, False)
    """
    return bool(
        any(pattern.search(question) for _, pattern in INTENTS)
        or _FEELING.search(question)
        or chat_reading.named_labels(question, "open")
        or face_ref(question) is not None
        or time_ref(question) is not None
        or _ALL_FACES.search(question)
    )


def intent_of(question: str) -> str:
    """The question's main intent: one of INTENTS' names, or "label" (what emotion) when none matches.

    >>> intent_of("Which AUs are active?"), intent_of("why happy?"), intent_of("How does she feel?")
    ('aus', 'why', 'label')
    """
    return intents_of(question)[0]


def face_ref(question: str) -> int | None:
    """The face number a question names ("face 2", "person #3", "the second face"), else None.

    >>> face_ref("what about face 2?"), face_ref("and the third face?"), face_ref("why?")
    (2, 3, None)
    """
    if m := _FACE_REF.search(question):
        return int(m.group(1))
    if m := _ORDINAL_REF.search(question):
        word = m.group(1).lower()
        return _ORDINALS.get(word) or int(re.sub(r"\D", "", word))
    return None


def _seconds(text: str) -> float:
    if ":" in text:
        minutes, seconds = text.split(":", 1)
        return int(minutes) * 60 + float(seconds)
    return float(text)


def time_ref(question: str) -> tuple[float, float] | None:
    """The time span a question names: "at 5 s" (a point), "between 2 and 4 s", "at 0:05"; else None.

    >>> time_ref("what happens at 5 s?"), time_ref("between 2 and 4 seconds"), time_ref("at 1:02")
    ((5.0, 5.0), (2.0, 4.0), (62.0, 62.0))
    """
    if m := _SPAN.search(question):
        a, b = sorted((_seconds(m.group(1)), _seconds(m.group(2))))
        return a, b
    if m := _POINT.search(question):
        t = _seconds(m.group(1))
        return t, t
    return None


def focus(question: str, items: list[Item], face: int | None = None, span: tuple[float, float] | None = None) -> Focus:
    """Narrow ``items`` (one attachment's) by the face and time the question names; ``face`` and ``span`` are the
    standing focus from earlier questions ("what about face 2?", "at 5 s"), kept until another one is named or the
    question asks about all faces ("each face") or the whole clip ("overall", "over time")."""
    out = Focus(items=list(items), face=face)
    named = face_ref(question)
    if named is not None:
        out.face = named
    elif _ALL_FACES.search(question):
        out.face = None
    faces = _faces(items)
    if out.face is not None:
        if out.face not in faces:
            out.notes.append(f"There is no face {out.face} in {items[0].name}: it has {_count(len(faces))}"
                             + _face_list(items, faces))
            out.face, out.unknown_face = None, named is not None
        else:
            out.items = [item for item in out.items if item.face == out.face]
    named_span = time_ref(question)
    span = named_span if named_span is not None else None if _ALL_TIMES.search(question) else span
    if span is not None:
        timed = [item for item in out.items if item.evidence.start is not None]
        if not timed:
            if named_span is not None:
                out.notes.append(f"{items[0].name} is a photo; times ('at 5 s') apply to videos.")
        else:
            a, b = span
            hit = [i for i in timed if i.evidence.start <= b and a <= (i.evidence.end or i.evidence.start)]  # type: ignore[operator]
            if not hit:  # a point between segments, or past the end: the nearest segment
                hit = [min(timed, key=lambda i: abs((i.evidence.start + (i.evidence.end or 0)) / 2 - a))]  # type: ignore[operator]
            out.items, out.span = hit, span
    return out


def _face_list(items: list[Item], faces: list[int]) -> str:
    """": face 1 (sadness), face 2 (happiness). Ask 'what about face 1?'." (a video's tracks without labels)."""
    if not faces:
        return "."
    if _is_video(items):
        listed = join([f"face {f}" for f in faces])
    else:
        label = {item.face: _label(item) for item in items}
        listed = join([f"face {f} ({label[f]})" for f in faces])
    return f", {listed}. Ask 'what about face {faces[0]}?'."


def _faces(items: list[Item]) -> list[int]:
    """The face numbers among ``items`` (0, a video window with no face visible, is not a face)."""
    return sorted({item.face for item in items if item.face})


def _count(n: int) -> str:
    return f"{n} face" + ("" if n == 1 else "s")


def where(item: Item, multi_face: bool) -> str:
    """How a reply names one item: ``group.jpg, face 2`` or ``clip.mp4, face 1, 2.0-4.0 s``."""
    text = item.name + (f", face {item.face}" if multi_face and item.face else "")
    text += "" if item.face else " (no face visible)"
    ev = item.evidence
    if ev.start is not None and ev.end is not None:
        text += f", {ev.start:.1f}-{ev.end:.1f} s"
    return text


def _sections(reasoning: Reasoning) -> dict[str, str]:
    from emoreason.reasoning.parser import parse_output

    return reasoning.sections or parse_output(reasoning.raw).sections  # every backend fills them; a stored one may not


_SECTION_TITLES = (
    ("key_observations", "Key observations"),
    ("overall_interpretation", "Overall interpretation"),
    ("conclusion", "Conclusion"),
)


def _label(item: Item) -> str:
    return item.reasoning.label or "no label"


def _analysis(item: Item, name: str) -> str:
    """The full FACS analysis of one item: its label and the three CoT sections."""
    sections = _sections(item.reasoning)
    lines = [f"{name}: {_label(item)}"]
    lines += [f"  {title}: {sections[key]}" for key, title in _SECTION_TITLES if sections.get(key)]
    return "\n".join(lines)


def _aus_line(aus: dict[str, float]) -> str:
    active = facs.active_aus(aus)
    if not active:
        return "no Action Unit above the presence threshold (a relaxed, neutral face)"
    return "; ".join(f"{facs.au_phrase(key, value)} {value:.1f}" for key, value in active)


def _support(item: Item) -> tuple[list[str], list[str]]:
    """(AUs present that belong to the label's FACS pattern, AUs present that it does not explain), from the label's
    cues (``reasoning.cues``, the decision the CoT reads too)."""
    cues = chat_reading.cues(item, item.reasoning.label or "")
    strength = cues.strength
    doubtful = facs.uncertain_numbers(item.evidence.uncertain_aus)

    def phrase(key: str) -> str:
        return facs.au_phrase(key, strength[key], facs.parse_au_key(key)[0] in doubtful)

    return [phrase(k) for k in cues.seen], [phrase(k) for k in cues.unexplained]


def _why(item: Item, name: str) -> str:
    fits, other = _support(item)
    label = _label(item)
    if not item.evidence.aus and item.evidence.meta.get("face") is False:
        reason = "no face is visible here, so only the words can name an emotion"
    elif label == "neutral" or not fits:
        reason = f"no AU pattern of an emotion is present ({_aus_line(item.evidence.aus)})"
    else:
        reason = f"{', '.join(fits)} {'is' if len(fits) == 1 else 'are'} part of the {label} pattern"
    lines = [f"{name}: {label}, because {reason}."]
    if other:
        lines.append(f"  Not explained by {label}: {', '.join(other)}.")
    if item.evidence.au_changes:
        lines.append(f"  Over this window: {item.evidence.au_changes}.")
    interpretation = _sections(item.reasoning).get("overall_interpretation")
    if interpretation:
        lines.append(f"  Overall interpretation: {interpretation}")
    return "\n".join(lines)


def _speech(items: list[Item], multi_face: bool) -> str:
    said = []
    seen: set[tuple[float | None, str]] = set()
    for item in sorted(items, key=lambda i: (i.evidence.start or 0.0, i.face)):
        ev = item.evidence
        if ev.transcript and (ev.start, ev.transcript) not in seen:
            seen.add((ev.start, ev.transcript))
            span = f"{ev.start:.1f}-{ev.end:.1f} s: " if ev.start is not None and ev.end is not None else ""
            prosody = f" ({ev.prosody})" if ev.prosody else ""
            said.append(f'  {span}"{ev.transcript}"{prosody}')
    if said:
        return "What was said:\n" + "\n".join(said)
    why = next((i.evidence.meta["no_words"] for i in items if i.evidence.meta.get("no_words")), "")  # pipelines.video
    prosody = sorted({item.evidence.prosody for item in items if item.evidence.prosody})
    if prosody:
        return f"No words were transcribed{f' ({why})' if why else ''}; the voice: " + "; ".join(prosody) + "."
    if all(item.evidence.start is None for item in items):
        return f"{items[0].name} is a photo: there is no speech to report."
    if why:
        return f"No words were transcribed in {items[0].name}: {why}."
    return f"No speech was transcribed in {items[0].name} (no audio, no whisper model, or no subtitles)."


def _timeline(items: list[Item], multi_face: bool) -> str:
    """Per face: the label of each window in time order, and the AU changes where a label changes."""
    lines = []
    for face in sorted({item.face for item in items}):  # 0 (no face visible) first: its words still count
        own = sorted((i for i in items if i.face == face), key=lambda i: i.evidence.start or 0.0)
        steps = [f"{_label(i)} {i.evidence.start:.1f}-{i.evidence.end:.1f} s" for i in own]  # type: ignore[str-format]
        head = own[0].name + (f", face {face}" if multi_face and face else "" if face else " (no face visible)")
        lines.append(f"{head}: " + " -> ".join(steps))
        for before, after in zip(own, own[1:], strict=False):
            if before.reasoning.label != after.reasoning.label:
                change = facs.au_change_text(before.evidence.aus, after.evidence.aus)
                lines.append(
                    f"  at {after.evidence.start:.1f} s {_label(before)} -> {_label(after)}"
                    + (f": {change}" if change else "")
                )
        for item in own:
            if item.evidence.au_changes and len(own) == 1:
                lines.append(f"  within the window: {item.evidence.au_changes}")
    return "\n".join(lines)


def _is_video(items: list[Item]) -> bool:
    return any(item.evidence.start is not None for item in items)


def answer(question: str, view: Focus, all_items: list[Item]) -> str:
    """The reply to ``question`` about the items in ``view`` (``all_items``: the whole attachment)."""
    parts = list(view.notes)
    if view.unknown_face:
        return "\n".join(parts)
    for intent in intents_of(question):
        parts += _part(intent, view.items, all_items, question)
    return "\n".join(part for part in parts if part)


def _part(intent: str, items: list[Item], all_items: list[Item], question: str = "") -> list[str]:
    """The answer to one intent (``answer`` joins them)."""
    multi_face = len(_faces(all_items)) > 1
    video = _is_video(items)
    names = {id(item): where(item, multi_face) for item in items}
    parts: list[str] = []
    asked = chat_reading.named_labels(question, items[0].evidence.label_set) if question else []  # type: ignore[arg-type]
    unknown = chat_reading.other_labels(question) if question else []
    if unknown and intent in ("check", "why") and not asked:
        known = "neutral, the basic emotions and the RAF-DB compounds"
        parts.append(f"The rule engine has no label {join(unknown)}: it reads {known}.")
    if intent == "help":
        parts.append(HELP_TEXT)
    elif intent == "check":
        parts += [chat_reading.check(item, names[id(item)], label) for item in items for label in asked]
    elif intent == "decided":
        parts += [chat_reading.decided(item, names[id(item)]) for item in items]
    elif intent == "why" and any(label != item.reasoning.label for item in items for label in asked):
        for item in items:
            parts += [chat_reading.why_not(item, names[id(item)], label) if label != item.reasoning.label
                      else _why(item, names[id(item)]) for label in asked]
    elif intent == "count":
        faces = len(_faces(all_items))
        parts.append(f"{all_items[0].name} has {_count(faces)}" + (" (tracks over time)." if video else "."))
    elif intent == "aus":
        for item in items:
            parts.append(f"{names[id(item)]}: {_aus_line(item.evidence.aus)}.")
    elif intent == "why":
        parts += [_why(item, names[id(item)]) for item in items]
    elif intent == "sure":
        parts += [chat_reading.sure(item, names[id(item)], asked) for item in items]
    elif intent == "speech":
        parts.append(_speech(items, multi_face))
    elif intent == "change" or (video and len(items) > 1):
        if not video:
            parts.append(f"{items[0].name} is a photo: one moment, so nothing changes over time.")
            parts += [f"{names[id(item)]}: {_label(item)}." for item in items]
        else:
            parts.append(_timeline(items, multi_face))
    elif len(items) == 1:
        parts.append(_analysis(items[0], names[id(items[0])]))
    else:  # several faces of a photo: one line each, not every analysis
        parts += [f"{names[id(item)]}: {_label(item)} ({_aus_line(item.evidence.aus)})." for item in items]
        parts.append("Ask 'what about face 2?' for one face's full analysis, or 'why?' for each face's evidence.")
    return parts


def labels(items: list[Item]) -> list[str]:
    """The distinct labels of ``items`` in order, for an ``<answer>`` tag."""
    out: list[str] = []
    for item in items:
        if item.reasoning.label and item.reasoning.label not in out:
            out.append(item.reasoning.label)
    return out


def reading(items: list[Item]) -> list[dict[str, Any]]:
    """The structured reading of ``items`` (what the HTTP API returns beside the text)."""
    return [
        {
            "source": item.name,
            "face": item.face,
            "box": item.evidence.meta.get("box"),
            "start": item.evidence.start,
            "end": item.evidence.end,
            "aus": item.evidence.aus,
            "label": item.reasoning.label,
            "scores": item.reasoning.scores,
        }
        for item in items
    ]
