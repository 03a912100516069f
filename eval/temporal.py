"""Temporal Event Matching (TEM): a deterministic, LCS-based score of how well a caption's events and their order
match a reference caption (the FEC-Bench idea: event extraction, event order, longest common subsequence).

Event extraction (:func:`extract_events`), lexicon-based and deterministic:

1. The caption is split into clauses at sentence punctuation (``. ! ? ;`` and new lines), commas, and the temporal
   connectives ``then, before, after, afterwards, later, finally, until, while, when, whereas``. Clause order is
   taken as event order ("after" is not reordered).
2. In each clause, left to right, these terms are events:

   - **AU events** ``AU<n>`` (sides dropped: AU14L is AU14): citations read by the one parser
     (``parser.cited_aus``: "AU12", "AU 12", "AUs 6 and 12"); AU names from ``facs.AU_TABLE`` ("lip corner
     puller", "jaw drop(s)"); and the plain words in :data:`ACTION_WORDS` ("smile"/"grin" -> AU12, "frown" -> AU4,
     "raises her eyebrows" -> AU1 + AU2, ...). A smile is a facial action (AU12), not an emotion claim.
   - **Emotion events**: the emotion words and phrases the one scanner finds (``text.emotion_mentions``, open
     vocabulary: "anxious" -> anxiety, RAF-DB compound bigrams, "grossed out"), except the ambiguous words in
     ``text.AMBIGUOUS`` ("content", "blank").
3. Polarity. A clause is cut into scopes at ``but, and, yet, although, though, however`` (``text.negation_scopes``).
   An event is negative when a negator (``labels.NEGATORS``: ``not, no, never, don't, without, neither, nor,
   hardly, ...``, and "rather than", "instead of") comes before it in its scope (``text.is_negated``), or an
   offset verb (``fades, disappears, stops, vanishes, subsides, relaxes, falls, absent, ...``) is anywhere in its
   scope; both together cancel. "She does not smile" gives the single event ``not AU12`` and no happiness event.
4. Consecutive identical events (same value, same polarity) merge into one ("AU12 lip corner puller" is one event).

Matching and score (:func:`tem`): two events match when they have the same canonical emotion or AU **and** the
same polarity. ``L = LCS(pred, ref)``; ``P = L/|pred|``, ``R = L/|ref|``, ``F1 = 2PR/(P+R)`` (0 when P+R = 0).
Empty sequences: P is 1 when ``pred`` is empty and R is 1 when ``ref`` is empty, so both empty scores 1.0 and
exactly one empty scores 0.0.

Optional LLM extraction (:func:`llm_extract_events`): any backend with ``generate_texts`` is asked for a JSON event
list; the reply is read leniently and mapped onto the same vocabulary; unreadable replies fall back to the lexicon.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from emoreason.facs import AU_TABLE, parse_au_key
from emoreason.labels import normalize_label
from emoreason.reasoning.parser import cited_aus
from emoreason.text import emotion_mentions, is_negated, scope_at

logger = logging.getLogger(__name__)

_CLAUSE = re.compile(
    r"[.!?;\n]+(?!\d)|,|\b(?:then|before|after|afterwards|later|finally|until|while|when|whereas)\b", re.I
)
OFFSET_WORDS = frozenset(
    "fades faded fading disappears disappeared disappearing vanishes vanished stops stopped ceases ceased subsides "
    "subsided relaxes falls fell absent gone wanes".split()
)
# Plain-words facial actions -> AU numbers (emitted in this order). Matched case-insensitively on whole words.
ACTION_WORDS: dict[str, tuple[int, ...]] = {
    r"smil(?:e|es|ed|ing)|grin(?:s|ned|ning)?": (12,),
    r"frown(?:s|ed|ing)?|scowl(?:s|ed|ing)?": (4,),
    r"(?:rais(?:es|ed|ing|e)|lift(?:s|ed|ing)?) (?:\w+ )?(?:eye)?brows|(?:eye)?brows (?:are )?(?:rais|lift|ris)\w*": (
        1,
        2,
    ),
    r"wrinkl\w* (?:\w+ )?nose|nose wrinkl\w*": (9,),
    r"squint(?:s|ed|ing)?": (7,),
    r"blink(?:s|ed|ing)?": (45,),
    r"clos(?:es|ed|ing|e) (?:\w+ )?eyes|eyes (?:are )?clos\w*": (43,),
    r"jaw (?:drops|dropped|dropping|falls open)|mouth (?:falls |drops )?open\w*|open(?:s|ed)? (?:\w+ )?mouth": (26,),
    r"(?:press(?:es|ed|ing)?|purs(?:es|ed|ing|e)) (?:\w+ )?lips|lips (?:are )?(?:press|purs)\w*": (24,),
    r"pout(?:s|ed|ing)?": (15,),
}
_ACTIONS = [(re.compile(rf"\b(?:{p})\b", re.I), aus) for p, aus in ACTION_WORDS.items()]
_AU_NAMES = [
    (re.compile(r"\b" + r"\s+".join(re.escape(w) for w in au.name.split()) + r"\w*\b", re.I), (au.number,))
    for au in AU_TABLE.values()
]
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_AU_TOKEN = re.compile(r"\bAUs?\b[\s\-_]?[\dLR,&+\s]*(?:and\s+\d{1,2}[LR]?)?|\bAU[\s\-_]?\d{1,2}[LR]?\b", re.I)


@dataclass(frozen=True)
class Event:
    """One stated event: an emotion (canonical or open-vocabulary label) or an AU ("AU12"), with polarity ±1."""

    value: str
    polarity: int = 1
    clause: int = 0

    @property
    def kind(self) -> str:
        return "au" if re.fullmatch(r"AU\d+", self.value) else "emotion"

    @property
    def key(self) -> tuple[str, int]:
        return self.value, self.polarity

    def __str__(self) -> str:
        return self.value if self.polarity > 0 else f"not {self.value}"


@dataclass
class TEMScore:
    """Precision, recall and F1 of the LCS between predicted and reference event sequences."""

    precision: float
    recall: float
    f1: float
    lcs: int
    n_pred: int
    n_ref: int


# ---------------------------------------------------------------------------------------------- extraction
def _clause_terms(clause: str) -> list[tuple[int, int, str]]:
    """(start, end, value) for every event term in one clause, in text order, before polarity is read."""
    terms: list[tuple[int, int, int, str]] = []  # (start, end, order among terms at one span, value)
    for m in _AU_TOKEN.finditer(clause):
        terms += [(m.start(), m.end(), i, f"AU{parse_au_key(k)[0]}") for i, k in enumerate(cited_aus(m.group(0)))]
    for pattern, numbers in _AU_NAMES + _ACTIONS:
        for m in pattern.finditer(clause):
            terms += [(m.start(), m.end(), i, f"AU{n}") for i, n in enumerate(numbers)]
    terms += [(m.start, m.end, 0, m.label) for m in emotion_mentions(clause, "open")]
    # Overlaps: an action/AU term wins over an emotion word inside it ("smiling" is AU12, not happiness).
    au_spans = [(s, e) for s, e, _, v in terms if v.startswith("AU")]
    kept = [t for t in terms if t[3].startswith("AU") or not any(s <= t[0] < e for s, e in au_spans)]
    out: list[tuple[int, int, str]] = []
    for start, end, _, value in sorted(set(kept)):
        if (start, end, value) not in out:
            out.append((start, end, value))
    return out


def _polarity(clause: str, position: int) -> int:
    """-1 when the term at ``position`` is negated or its scope has an offset verb (not both), else +1."""
    lo, hi = scope_at(clause, position)
    offset = any(w.lower() in OFFSET_WORDS for w in _WORD.findall(clause, lo, hi))
    return -1 if is_negated(clause, position) != offset else 1


def extract_events(text: str | None) -> list[Event]:
    """The ordered events a caption states (see the module docstring for the rules).

    >>> [str(e) for e in extract_events("She smiles, then looks sad. She does not smile.")]
    ['AU12', 'sadness', 'not AU12']
    """
    events: list[Event] = []
    for index, clause in enumerate(c for c in _CLAUSE.split(text or "") if c and c.strip()):
        for start, _, value in _clause_terms(clause):
            event = Event(value, _polarity(clause, start), index)
            if not events or events[-1].key != event.key:
                events.append(event)
    return events


# ---------------------------------------------------------------------------------------------- LCS and score
def lcs_length(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Length of the longest common subsequence (dynamic programming, O(|a| |b|)).

    >>> lcs_length("ABCBDAB", "BDCABA")
    4
    """
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _as_events(item: str | Sequence[Event] | None) -> list[Event]:
    return extract_events(item) if item is None or isinstance(item, str) else list(item)


def tem(pred: str | Sequence[Event] | None, ref: str | Sequence[Event] | None) -> TEMScore:
    """Temporal event matching of a predicted caption (or event list) against a reference one.

    ``L = LCS`` over event keys (value, polarity); ``P = L/|pred|`` (1 if empty), ``R = L/|ref|`` (1 if empty),
    ``F1 = 2PR/(P+R)``.

    >>> s = tem("She frowns, then smiles.", "She frowns. Then she smiles and looks happy.")
    >>> s.lcs, s.precision, round(s.recall, 4), s.f1
    (2, 1.0, 0.6667, 0.8)
    """
    p, r = _as_events(pred), _as_events(ref)
    lcs = lcs_length([e.key for e in p], [e.key for e in r])
    precision = lcs / len(p) if p else 1.0
    recall = lcs / len(r) if r else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return TEMScore(precision, recall, f1, lcs, len(p), len(r))


def tem_f1(pred: str | Sequence[Event] | None, ref: str | Sequence[Event] | None) -> float:
    """The TEM F1 alone (see :func:`tem`).

    >>> tem_f1("She is happy, then sad.", "She is happy, then sad."), tem_f1("", "")
    (1.0, 1.0)
    """
    return tem(pred, ref).f1


# ---------------------------------------------------------------------------------------------- LLM extraction
EVENT_PROMPT = (
    "List the emotion and facial-action events this caption states, in the order they happen.\n"
    'Reply with only a JSON list like [{{"event": "happiness", "negated": false}}, {{"event": "AU4", "negated": '
    "true}}]. Use one basic emotion word (neutral, happiness, sadness, surprise, fear, disgust, anger, contempt) "
    'or an action unit "AU<number>" per event; set "negated" when the caption says it does not happen or stops.\n'
    "Caption: {caption}"
)
_VALUE_KEYS = ("event", "value", "label", "emotion", "au", "name")


def _event_from_item(item: Any, index: int) -> Event | None:
    if isinstance(item, str):
        found = extract_events(item)
        return Event(found[0].value, found[0].polarity, index) if found else None
    if not isinstance(item, dict):
        return None
    raw = next((str(item[k]) for k in _VALUE_KEYS if item.get(k) not in (None, "")), "")
    aus = cited_aus(raw)
    if aus:
        value: str | None = f"AU{parse_au_key(aus[0])[0]}"
    else:
        value = normalize_label(raw, "open")
        if value is None:
            names = [e for e in extract_events(raw) if e.kind == "au"]
            value = names[0].value if names else None
    if value is None:
        return None
    polarity_field = str(item.get("polarity", "")).strip().lower()
    negative = bool(item.get("negated")) or polarity_field in ("negative", "-", "-1", "neg", "false")
    return Event(value, -1 if negative else 1, index)


def parse_event_reply(reply: str) -> list[Event] | None:
    """Events from an LLM reply: the outermost JSON list in it, items read leniently; None when unreadable.

    >>> [str(e) for e in parse_event_reply('Sure: [{"event": "Happy"}, {"event": "AU 4", "negated": true}]')]
    ['happiness', 'not AU4']
    """
    match = re.search(r"\[.*\]", reply or "", re.S)
    if not match:
        return None
    try:
        items = json.loads(match.group(0))
    except ValueError:
        try:
            items = json.loads(match.group(0).replace("'", '"'))
        except ValueError:
            return None
    if not isinstance(items, list):
        return None
    events: list[Event] = []
    for i, item in enumerate(items):
        event = _event_from_item(item, i)
        if event is not None and (not events or events[-1].key != event.key):
            events.append(event)
    return events


def llm_extract_events(texts: Sequence[str], generator: Any, batch_size: int = 8) -> list[list[Event]]:
    """Events of each text extracted by a model: ``generator.generate_texts(messages, images)`` (the hf / openai
    backends). A reply with no readable JSON list falls back to :func:`extract_events` for that text."""
    if not hasattr(generator, "generate_texts"):
        from emoreason.errors import EmoreasonError

        raise EmoreasonError("LLM event extraction needs a backend with generate_texts (hf or openai)")
    out: list[list[Event]] = []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        messages = [
            [{"role": "user", "content": [{"type": "text", "text": EVENT_PROMPT.format(caption=t)}]}] for t in chunk
        ]
        replies = generator.generate_texts(messages, [[] for _ in chunk])
        for text, reply in zip(chunk, replies, strict=True):
            events = parse_event_reply(reply)
            if events is None:
                logger.warning("event extraction reply had no JSON list; using the lexicon for this caption")
                events = extract_events(text)
            out.append(events)
    return out
