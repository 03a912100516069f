"""Reading running text: the one emotion-word scanner (with its negation rule) and the one list joiner.

Every part that reads emotion words out of sentences calls :func:`emotion_mentions`: the rule engine's speech
reading, the parser's Conclusion fallback and the temporal metric's clause terms. The vocabulary and the negator
list are ``labels`` (``normalize_label``, ``SYNONYMS``, ``NEGATORS``); this module only decides where a word is and
whether it is negated.

Rules:

1. **Scopes.** Text is cut into negation scopes at sentence punctuation (``. ! ? ;``, not a decimal point),
   commas, new lines and the words in :data:`SCOPE_WORDS` (``but, and, yet, although, ..., then, when, until``).
2. **Mentions.** In each scope, left to right: a multiword synonym ("grossed out") or, unless the
   label set is "basic", a RAF-DB compound bigram ("happily surprised", "happy-surprised") is one mention; any
   other word is a mention when ``labels.normalize_label(word, label_set)`` maps it, except negators and the
   ambiguous words and phrases in :data:`AMBIGUOUS` ("the content of", "a blank stare", "no emotion is named").
   With "basic", "happily surprised" is two mentions, happiness and surprise. Words are paired only when nothing
   but a space or a hyphen stands between them ("happiness -> surprise" is two mentions).
3. **Negation.** A mention is negated when a negator (``labels.NEGATORS``) or a negating phrase ("rather than",
   "instead of") comes before it in its scope, at any distance: "I don't think she is happy" is negated,
   "not unhappy" is a negated sadness (never happiness), "not angry, just sad" negates anger only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from emoreason.labels import COMPOUND_LABELS, NEGATING_PHRASES, NEGATORS, SYNONYMS, LabelSet, normalize_label

SCOPE_WORDS: tuple[str, ...] = (
    "but", "and", "yet", "although", "though", "however", "whereas",
    "while", "when", "then", "before", "after", "afterwards", "later", "finally", "until",
)  # fmt: skip
# Words normalize_label reads as emotions that are too ambiguous in running text ("the content of", "a relaxed face",
# "no emotion is named"); as a whole answer they still normalise.
AMBIGUOUS: frozenset[str] = frozenset({"none", "content", "blank", "interest", "relaxed", "no emotion"})
_SCOPE_BREAK = re.compile(r"[.!?;]+(?!\d)|[,\n]|\b(?:" + "|".join(SCOPE_WORDS) + r")\b", re.I)
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_PHRASES = {key: label for key, label in SYNONYMS.items() if " " in key and key not in AMBIGUOUS}


@dataclass(frozen=True)
class Mention:
    """One emotion word or phrase in a text: its label, its span (``text[start:end]``) and whether it is negated."""

    label: str
    start: int
    end: int
    negated: bool = False


def _straight(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'")  # same length: spans stay valid


def negation_scopes(text: str) -> list[tuple[int, int]]:
    """The (start, end) spans of ``text``'s negation scopes, in order (rule 1 of the module docstring).

    >>> t = "not sad, but happy"
    >>> [t[a:b].strip() for a, b in negation_scopes(t)]
    ['not sad', 'happy']
    """
    bounds, start = [], 0
    for m in _SCOPE_BREAK.finditer(text):
        bounds.append((start, m.start()))
        start = m.end()
    bounds.append((start, len(text)))
    return [(a, b) for a, b in bounds if text[a:b].strip()]


def scope_at(text: str, position: int) -> tuple[int, int]:
    """The negation scope that holds ``position`` (or the empty span there when it falls on a break)."""
    for a, b in negation_scopes(text):
        if a <= position < b:
            return a, b
    return position, position


def _negates(words: list[str]) -> bool:
    pairs = set(zip(words, words[1:], strict=False))
    return any(w in NEGATORS for w in words) or any(p in pairs for p in NEGATING_PHRASES)


def is_negated(text: str, position: int) -> bool:
    """True when a negator comes before ``position`` in its negation scope (rule 3 of the module docstring).

    >>> is_negated("she does not really smile", 20), is_negated("not sad, but she smiles", 17)
    (True, False)
    """
    text = _straight(text)
    start, _ = scope_at(text, position)
    return _negates([w.lower() for w in _WORD.findall(text, start, position)])


def _adjacent(text: str, a: re.Match[str], b: re.Match[str]) -> bool:
    return text[a.end() : b.start()].strip() in ("", "-")


def _phrase(first: str, second: str, label_set: LabelSet) -> str | None:
    pair = f"{first} {second}".lower()
    if pair in _PHRASES:
        return _PHRASES[pair]
    if label_set != "basic":
        compound = normalize_label(pair, "compound")
        return compound if compound in COMPOUND_LABELS else None
    return None


def _scope_mentions(text: str, start: int, end: int, label_set: LabelSet) -> Iterator[Mention]:
    words = list(_WORD.finditer(text, start, end))
    lower = [w.group(0).lower() for w in words]
    i = 0
    while i < len(words):
        w = words[i]
        negated = _negates(lower[:i])
        if i + 1 < len(words) and _adjacent(text, w, words[i + 1]):
            phrase = _phrase(lower[i], lower[i + 1], label_set)
            if phrase is not None:
                yield Mention(phrase, w.start(), words[i + 1].end(), negated)
                i += 2
                continue
        if lower[i] not in NEGATORS and lower[i] not in AMBIGUOUS:
            label = normalize_label(lower[i], label_set)
            if label is not None:
                yield Mention(label, w.start(), w.end(), negated)
        i += 1


def emotion_mentions(text: str | None, label_set: LabelSet = "open") -> list[Mention]:
    """Every emotion word or phrase in ``text``, in order, each with its negation (see the module docstring).

    >>> [(m.label, m.negated) for m in emotion_mentions("I'm not unhappy, just happily surprised")]
    [('sadness', True), ('happily surprised', False)]
    >>> [m.label for m in emotion_mentions("happily surprised", "basic")]
    ['happiness', 'surprise']
    """
    text = _straight(text or "")
    return [m for start, end in negation_scopes(text) for m in _scope_mentions(text, start, end, label_set)]


def join(items: list[str]) -> str:
    """An English list: "a", "a and b", "a, b and c".

    >>> join(["AU1"]), join(["AU1", "AU2", "AU5"])
    ('AU1', 'AU1, AU2 and AU5')
    """
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
