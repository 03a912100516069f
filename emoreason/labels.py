"""The emotion vocabulary: canonical labels, compound labels, synonyms, valence, and the one label normaliser.

Canonical basic labels are Ekman's six plus neutral and contempt. Compound labels are the 11 of RAF-DB
(Li & Deng, "Reliable Crowdsourcing and Deep Locality-Preserving Learning for Unconstrained Facial Expression
Recognition", IEEE TIP 2019), written as "<adverb> <adjective>", e.g. "happily surprised".

Normalisation works on whole words and whole phrases, never on substrings: "unhappy" is sadness, not happiness,
and "not happy" is no label at all.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

BASIC_LABELS: tuple[str, ...] = (
    "neutral",
    "happiness",
    "sadness",
    "surprise",
    "fear",
    "disgust",
    "anger",
    "contempt",
)

# RAF-DB compound classes 1..11, in the dataset's own order, with their two basic components.
COMPOUND_LABELS: dict[str, tuple[str, str]] = {
    "happily surprised": ("happiness", "surprise"),
    "happily disgusted": ("happiness", "disgust"),
    "sadly fearful": ("sadness", "fear"),
    "sadly angry": ("sadness", "anger"),
    "sadly surprised": ("sadness", "surprise"),
    "sadly disgusted": ("sadness", "disgust"),
    "fearfully angry": ("fear", "anger"),
    "fearfully surprised": ("fear", "surprise"),
    "angrily surprised": ("anger", "surprise"),
    "angrily disgusted": ("anger", "disgust"),
    "disgustedly surprised": ("disgust", "surprise"),
}

CANONICAL_LABELS: tuple[str, ...] = BASIC_LABELS + tuple(COMPOUND_LABELS)

LabelSet = Literal["basic", "compound", "open"]
LABEL_SETS: tuple[str, ...] = get_args(LabelSet)  # the one list of label-set names (CLI, API, prompts, training)

# Emotion words outside the canonical set that corpora use (MAFW, MER) and open-vocabulary answers name.
# They are normalised to a clean form but have no canonical label.
EXTENDED_LABELS: tuple[str, ...] = (
    "anxiety",
    "helplessness",
    "disappointment",
    "confusion",
    "boredom",
    "excitement",
    "relief",
    "pride",
    "embarrassment",
    "shame",
    "guilt",
    "frustration",
    "worry",
    "amusement",
    "calm",
    "interest",
    "love",
    "doubt",
    "contentment",
)

# Word or phrase -> canonical basic label. Keys are lower-case, whitespace-normalised.
SYNONYMS: dict[str, str] = {
    # neutral
    "neutral": "neutral",
    "neutrality": "neutral",
    "no emotion": "neutral",
    "none": "neutral",
    "expressionless": "neutral",
    "blank": "neutral",
    "calm neutral": "neutral",
    # happiness
    "happiness": "happiness",
    "happy": "happiness",
    "happily": "happiness",
    "joy": "happiness",
    "joyful": "happiness",
    "joyous": "happiness",
    "glad": "happiness",
    "delighted": "happiness",
    "delight": "happiness",
    "cheerful": "happiness",
    "elated": "happiness",
    "pleased": "happiness",
    "smiling": "happiness",
    "content": "happiness",
    "amused": "happiness",
    # sadness
    "sadness": "sadness",
    "sad": "sadness",
    "sadly": "sadness",
    "unhappy": "sadness",
    "unhappiness": "sadness",
    "sorrow": "sadness",
    "sorrowful": "sadness",
    "grief": "sadness",
    "grieving": "sadness",
    "depressed": "sadness",
    "melancholy": "sadness",
    "downcast": "sadness",
    "upset": "sadness",
    "crying": "sadness",
    # surprise
    "surprise": "surprise",
    "surprised": "surprise",
    "surprisedly": "surprise",
    "astonished": "surprise",
    "astonishment": "surprise",
    "amazed": "surprise",
    "amazement": "surprise",
    "shocked": "surprise",
    "shock": "surprise",
    "startled": "surprise",
    # fear
    "fear": "fear",
    "fearful": "fear",
    "fearfully": "fear",
    "afraid": "fear",
    "scared": "fear",
    "frightened": "fear",
    "terrified": "fear",
    "terror": "fear",
    "panic": "fear",
    "panicked": "fear",
    # disgust
    "disgust": "disgust",
    "disgusted": "disgust",
    "disgustedly": "disgust",
    "disgusting": "disgust",
    "revulsion": "disgust",
    "repulsed": "disgust",
    "grossed out": "disgust",
    # anger
    "anger": "anger",
    "angry": "anger",
    "angrily": "anger",
    "mad": "anger",
    "furious": "anger",
    "fury": "anger",
    "rage": "anger",
    "irritated": "anger",
    "annoyed": "anger",
    "annoyance": "anger",
    "hostile": "anger",
    # contempt
    "contempt": "contempt",
    "contemptuous": "contempt",
    "contemptuously": "contempt",
    "scorn": "contempt",
    "scornful": "contempt",
    "disdain": "contempt",
    "disdainful": "contempt",
    "smug": "contempt",
}

VALENCE: dict[str, int] = {
    "neutral": 0,
    "happiness": 1,
    "sadness": -1,
    "surprise": 0,  # surprise is valence-ambiguous; its compounds carry the sign
    "fear": -1,
    "disgust": -1,
    "anger": -1,
    "contempt": -1,
    "happily surprised": 1,
    "happily disgusted": 0,
    "sadly fearful": -1,
    "sadly angry": -1,
    "sadly surprised": -1,
    "sadly disgusted": -1,
    "fearfully angry": -1,
    "fearfully surprised": -1,
    "angrily surprised": -1,
    "angrily disgusted": -1,
    "disgustedly surprised": -1,
}

# The one negator list: a word here negates the emotion words after it in its scope ("not happy", "never sad",
# "doesn't look angry"). Contractions are listed with and without the apostrophe; "rather than" and "instead of"
# (NEGATING_PHRASES) negate what follows them too.
NEGATORS: frozenset[str] = frozenset(
    "not no never none nothing without neither nor hardly barely non cannot lacks lacking "
    "isn't isnt aren't arent wasn't wasnt weren't werent don't dont doesn't doesnt didn't didnt won't wont "
    "can't cant couldn't couldnt wouldn't wouldnt shouldn't shouldnt haven't havent hasn't hasnt hadn't hadnt "
    "ain't aint mustn't needn't".split()
)
NEGATING_PHRASES: tuple[tuple[str, str], ...] = (("rather", "than"), ("instead", "of"))
_FILLER = {
    "a",
    "an",
    "the",
    "is",
    "are",
    "looks",
    "look",
    "seems",
    "appears",
    "expression",
    "emotion",
    "face",
    "feeling",
    "feels",
    "very",
    "slightly",
    "mostly",
    "label",
    "final",
    "answer",
    "of",
    "person",
    "subject",
    "this",
    "they",
    "he",
    "she",
    "i",
    "it",
    "expresses",
    "showing",
    "shows",
    "mild",
    "strong",
    "clear",
    "clearly",
}
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_SPLIT = re.compile(r"\s*(?:,|;|/|\||\band\b|\bor\b|&|\+)\s*")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("-", " ").replace("_", " "))


def compound_label(first: str, second: str) -> str | None:
    """The RAF-DB compound label for two basic labels, in either order, or None if RAF-DB has no such class.

    >>> compound_label("surprise", "happiness")
    'happily surprised'
    """
    for name, parts in COMPOUND_LABELS.items():
        if set(parts) == {first, second} and first != second:
            return name
    return None


def _basic_from_words(words: list[str]) -> str | None:
    phrase = " ".join(words)
    if phrase in SYNONYMS:
        return SYNONYMS[phrase]
    return None


def normalize_label(text: str | None, label_set: LabelSet = "compound") -> str | None:
    """Map free text to one canonical label, or None.

    Whole-word matching only: "unhappy" -> sadness, "not happy" -> None, "happy-ish" -> None.
    Compound forms ("happily surprised", "happy surprise", "surprised and happy") map to the RAF-DB compound
    label when ``label_set`` is "compound" or "open"; with "basic" they give None.
    Extended words ("anxiety") are returned cleaned when ``label_set`` is "open".

    >>> normalize_label("Happy!"), normalize_label("unhappy"), normalize_label("not happy")
    ('happiness', 'sadness', None)
    """
    if not text:
        return None
    words = [w for w in _words(text) if w not in _FILLER]
    basic = _basic_from_words(words)  # a known phrase first: "none" is neutral, not a negation
    if basic is not None:
        return basic
    if not words or any(w in NEGATORS for w in words):
        return None
    if len(words) == 2 or (len(words) == 3 and words[1] == "and"):
        first, second = words[0], words[-1]
        a, b = SYNONYMS.get(first), SYNONYMS.get(second)
        if a and b and a != b and label_set != "basic":
            return compound_label(a, b)
    if label_set == "open" and len(words) == 1:
        word = words[0]
        for extended in EXTENDED_LABELS:
            if word == extended or word in _EXTENDED_FORMS.get(extended, ()):
                return extended
    return None


_EXTENDED_FORMS: dict[str, tuple[str, ...]] = {
    "anxiety": ("anxious", "nervous", "nervousness", "tense", "tension"),
    "helplessness": ("helpless",),
    "disappointment": ("disappointed",),
    "confusion": ("confused", "puzzled", "perplexed"),
    "boredom": ("bored",),
    "excitement": ("excited",),
    "relief": ("relieved",),
    "pride": ("proud",),
    "embarrassment": ("embarrassed",),
    "shame": ("ashamed",),
    "guilt": ("guilty",),
    "frustration": ("frustrated",),
    "worry": ("worried",),
    "amusement": (),
    "calm": ("calmness", "relaxed"),
    "interest": ("interested", "curious", "curiosity"),
    "love": ("loving", "affection"),
    "doubt": ("doubtful", "skeptical", "sceptical"),
    "contentment": (),
}


def normalize_labels(text: str | None, label_set: LabelSet = "open") -> list[str]:
    """Split a comma/`and`/slash-separated answer and normalise each part; unknown parts are dropped, order kept.

    A two-word compound ("happily surprised") is kept whole, not split.

    >>> normalize_labels("happy, surprised; scared")
    ['happiness', 'surprise', 'fear']
    """
    if not text:
        return []
    whole = normalize_label(text, label_set)
    if whole is not None and whole in COMPOUND_LABELS:
        return [whole]
    out: list[str] = []
    for part in _SPLIT.split(text):
        label = normalize_label(part, label_set)
        if label is not None and label not in out:
            out.append(label)
    return out


def components(label: str) -> tuple[str, ...]:
    """The basic labels inside a canonical label: itself for a basic label, two for a compound.

    >>> components("sadly angry")
    ('sadness', 'anger')
    """
    return COMPOUND_LABELS.get(label, (label,))


def valence(label: str) -> int:
    """Valence sign of a canonical label: +1, 0 or -1. Raises KeyError for a label outside the canonical set."""
    return VALENCE[label]


def is_canonical(label: str | None) -> bool:
    return label in VALENCE


def labels_for(label_set: LabelSet) -> tuple[str, ...]:
    """The labels a model may choose from under a label set (open vocabulary still lists the canonical ones)."""
    if label_set == "basic":
        return BASIC_LABELS
    return CANONICAL_LABELS
