"""FACS Action Units: the AU table, intensity words, emotion prototypes, and the one AU-to-text function.

AU names and muscles follow Ekman, Friesen & Hager, *Facial Action Coding System: Manual* (2002).
Intensity is on a 0..5 scale where 1..5 are FACS letters A..E (trace, slight, marked, severe, maximum).
An AU is *present* at or above ``PRESENCE_THRESHOLD`` (1.0, i.e. at least a trace, "A").

AU keys are strings: ``"AU12"`` for a bilateral AU, ``"AU14L"`` / ``"AU14R"`` for one side (subject's left/right).
Everything that describes AUs in words (prompts, the rule engine, the data builders, the UI) calls
:func:`au_phrase`, :func:`au_text` or :func:`au_change_text` from this module.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PRESENCE_THRESHOLD = 1.0
MAX_INTENSITY = 5.0


@dataclass(frozen=True)
class ActionUnit:
    number: int
    name: str
    muscle: str
    region: str  # "brow", "eyes", "nose", "cheeks", "mouth", "jaw", "lids"
    description: str  # what the movement looks like, in plain words


AU_TABLE: dict[int, ActionUnit] = {
    au.number: au
    for au in [
        ActionUnit(1, "inner brow raiser", "frontalis, pars medialis", "brow", "the inner ends of the eyebrows lift"),
        ActionUnit(2, "outer brow raiser", "frontalis, pars lateralis", "brow", "the outer ends of the eyebrows lift"),
        ActionUnit(
            4,
            "brow lowerer",
            "corrugator supercilii, depressor supercilii, procerus",
            "brow",
            "the brows pull down and together",
        ),
        ActionUnit(
            5, "upper lid raiser", "levator palpebrae superioris", "eyes", "the eyes widen, showing more white"
        ),
        ActionUnit(
            6, "cheek raiser", "orbicularis oculi, pars orbitalis", "cheeks", "the cheeks lift and crow's feet form"
        ),
        ActionUnit(7, "lid tightener", "orbicularis oculi, pars palpebralis", "eyes", "the eyelids tense and narrow"),
        ActionUnit(9, "nose wrinkler", "levator labii superioris alaeque nasi", "nose", "the nose wrinkles upward"),
        ActionUnit(10, "upper lip raiser", "levator labii superioris", "mouth", "the upper lip lifts"),
        ActionUnit(
            12, "lip corner puller", "zygomaticus major", "mouth", "the lip corners pull up and back, as in a smile"
        ),
        ActionUnit(14, "dimpler", "buccinator", "mouth", "the lip corners tighten inward, making dimples"),
        ActionUnit(15, "lip corner depressor", "depressor anguli oris", "mouth", "the lip corners pull down"),
        ActionUnit(16, "lower lip depressor", "depressor labii inferioris", "mouth", "the lower lip pulls down"),
        ActionUnit(17, "chin raiser", "mentalis", "jaw", "the chin boss pushes up, raising the lower lip"),
        ActionUnit(18, "lip pucker", "incisivii labii superioris and inferioris", "mouth", "the lips push forward"),
        ActionUnit(20, "lip stretcher", "risorius with platysma", "mouth", "the lips stretch sideways"),
        ActionUnit(22, "lip funneler", "orbicularis oris", "mouth", "the lips funnel outward"),
        ActionUnit(23, "lip tightener", "orbicularis oris", "mouth", "the lips tighten and narrow"),
        ActionUnit(24, "lip pressor", "orbicularis oris", "mouth", "the lips press together"),
        ActionUnit(
            25,
            "lips part",
            "depressor labii inferioris, or relaxed mentalis / orbicularis oris",
            "mouth",
            "the lips part",
        ),
        ActionUnit(
            26, "jaw drop", "masseter relaxed; temporalis and internal pterygoid relaxed", "jaw", "the jaw drops open"
        ),
        ActionUnit(27, "mouth stretch", "pterygoids, digastric", "jaw", "the mouth stretches wide open"),
        ActionUnit(28, "lip suck", "orbicularis oris", "mouth", "the lips are sucked in"),
        ActionUnit(43, "eyes closed", "relaxation of levator palpebrae superioris", "lids", "the eyes close"),
        ActionUnit(45, "blink", "levator palpebrae relaxes; orbicularis oculi contracts", "lids", "the eyes blink"),
    ]
}

# Lay phrases for the plain-language video caption (the FACS names stay the AU text of prompts and CoTs).
AU_PLAIN: dict[int, str] = {
    1: "inner brows raised", 2: "outer brows raised", 4: "brows drawn down", 5: "eyes wide open",
    6: "cheeks raised", 7: "lids tightened", 9: "nose wrinkled", 10: "upper lip raised", 12: "lip corners up",
    14: "cheeks dimpled", 15: "lip corners down", 16: "lower lip pulled down", 17: "chin pushed up",
    18: "lips puckered", 20: "lips stretched", 22: "lips funnelled", 23: "lips tightened", 24: "lips pressed",
    25: "lips apart", 26: "jaw dropped", 27: "mouth stretched open", 28: "lips sucked in", 43: "eyes closed",
}
# Pairs said as one phrase: (a, b) -> phrase, replacing both.
AU_PLAIN_PAIRS: dict[tuple[int, int], str] = {
    (1, 4): "brows raised and drawn together", (1, 2): "brows raised", (25, 26): "mouth open",
}


def plain_movements(
    aus: dict[str, float], threshold: float = PRESENCE_THRESHOLD, limit: int = 4, uncertain: Iterable[str] = ()
) -> list[str]:
    """The strongest visible movements (``au_states``) in lay words, pairs merged, strongest first; an uncertain
    one says so, as the CoT does.

    >>> plain_movements({"AU1": 3.0, "AU4": 2.0, "AU43": 4.0, "AU15": 1.5})
    ['eyes closed', 'brows raised and drawn together', 'lip corners down']
    >>> plain_movements({"AU12": 4.0, "AU25": 2.0}, uncertain=["AU12"])
    ['lip corners up (uncertain)', 'lips apart']
    """
    states = au_states(aus, threshold, uncertain)
    strength = {n: v for n, v in bilateral(aus).items() if shows(states, n) and n in AU_PLAIN}
    phrases: list[tuple[float, str, bool]] = []
    for (a, b), phrase in AU_PLAIN_PAIRS.items():
        if a in strength and b in strength:
            doubt = UNCERTAIN in (states[a], states[b])
            phrases.append((max(strength.pop(a), strength.pop(b)), phrase, doubt))
    phrases += [(v, AU_PLAIN[n], states[n] == UNCERTAIN) for n, v in strength.items()]
    ranked = sorted(phrases, key=lambda x: -x[0])[:limit]
    return [p + (" (uncertain)" if doubt else "") for _, p, doubt in ranked]


# FACS intensity letters on the 0..5 scale: 1=A trace, 2=B slight, 3=C marked, 4=D severe, 5=E maximum.
INTENSITY_WORDS: dict[str, str] = {"A": "trace", "B": "slight", "C": "marked", "D": "severe", "E": "maximum"}

# Emotion prototypes: AU -> weight. Core AUs weigh 1.0, supporting AUs 0.5.
# Basic emotions: EMFACS-7 prototypes (Friesen & Ekman, EMFACS-7, 1983) as tabulated in Ekman, Friesen & Hager,
# FACS Investigator's Guide (2002), Table 10-1, with the major variants folded in as supporting AUs.
# Contempt is unilateral AU14 (often with unilateral AU12): see CONTEMPT_UNILATERAL below.
# Sadness carries AU43 as a supporting AU: EMFACS's sadness variants add AU54+AU64 (head and eyes down), which a
# camera sees as lowered or closed lids, and crying shuts the eyes (inner brows up with eyes shut: a signature).
# Compound emotions: Du, Tao & Martinez, "Compound facial expressions of emotion", PNAS 111(15), 2014, Table 1
# (the AUs used by at least 70% of their subjects).
PROTOTYPES: dict[str, dict[int, float]] = {
    "happiness": {6: 1.0, 12: 1.0, 25: 0.25},
    "sadness": {1: 1.0, 4: 0.5, 15: 1.0, 17: 0.5, 43: 0.5},
    "surprise": {1: 1.0, 2: 1.0, 5: 0.5, 26: 1.0, 27: 0.5, 25: 0.25},
    "fear": {1: 1.0, 2: 0.5, 4: 1.0, 5: 1.0, 7: 0.5, 20: 1.0, 26: 0.5, 25: 0.25},
    "disgust": {9: 1.0, 10: 1.0, 15: 0.5, 16: 0.5, 17: 0.25, 25: 0.25},
    "anger": {4: 1.0, 5: 0.5, 7: 1.0, 23: 1.0, 24: 0.5, 17: 0.25},
    "contempt": {14: 1.0, 12: 0.25},
    "happily surprised": {1: 1.0, 2: 1.0, 12: 1.0, 25: 1.0},
    "happily disgusted": {10: 1.0, 12: 1.0, 25: 1.0},
    "sadly fearful": {1: 1.0, 4: 1.0, 20: 1.0, 25: 1.0},
    "sadly angry": {4: 1.0, 15: 1.0},
    "sadly surprised": {1: 1.0, 4: 1.0, 25: 1.0, 26: 1.0},
    "sadly disgusted": {4: 1.0, 10: 1.0},
    "fearfully angry": {4: 1.0, 20: 1.0, 25: 1.0},
    "fearfully surprised": {1: 1.0, 2: 1.0, 5: 1.0, 20: 1.0, 25: 1.0},
    "angrily surprised": {4: 1.0, 25: 1.0, 26: 1.0},
    "angrily disgusted": {4: 1.0, 10: 1.0, 17: 1.0},
    "disgustedly surprised": {1: 1.0, 2: 1.0, 5: 1.0, 10: 1.0},
}
# AUs whose one-sided (asymmetric) form is the signature of contempt.
CONTEMPT_UNILATERAL: tuple[int, ...] = (14, 12)

# Signatures: a basic emotion is only read when the face shows one of these AU combinations in full (each AU at
# or above the presence threshold). They encode the FACS Investigator's Guide's point that no single AU but the
# specific combination signals an emotion: AU4 alone (MediaPipe reads some on calm faces) is neither anger nor
# sadness; AU20 alone is not fear; AU26 alone (an open, laughing mouth) is not surprise. Surprise and fear widen
# the eyes and anger glares, so with the eyes shut (EYES_SHUT) none of them is read; eyes squeezed shut under
# raised or lowered brows, or with the chin pushed up (AU17), is the crying face (sadness).
SIGNATURES: dict[str, tuple[frozenset[int], ...]] = {
    "happiness": (frozenset({12}),),
    "sadness": (
        frozenset({15}), frozenset({1, 4}), frozenset({1, 17}), frozenset({1, 43}), frozenset({17, 43}),
        frozenset({4, 43}), frozenset({-43}),  # -43: eyes squeezed shut over closed lips (crying)
    ),
    # EMFACS surprise: 1+2 with 5 or 26/27, or 5 with 26/27 (1+2 alone is a brow flash, not surprise); 1+26 for
    # faces whose hair hides the outer brows
    "surprise": (frozenset({1, 2, 5}), frozenset({1, 2, 26}), frozenset({1, 2, 27}), frozenset({5, 26}),
                 frozenset({5, 27}), frozenset({1, 26})),
    "fear": (frozenset({20, 1}), frozenset({20, 4}), frozenset({20, 5}), frozenset({1, 2, 4}), frozenset({1, 4, 5})),
    "disgust": (frozenset({9}), frozenset({10})),
    # every EMFACS anger prototype lowers the brows (4+5+7 with 23, 24 or 17+23/24); -4 is a marked frown on its
    # own (AU4 >= MARKED_FROWN). 4+17: the brows drawn down over a pushed-up chin (CK+ anger, lips pressed)
    "anger": (frozenset({4, 7}), frozenset({4, 23}), frozenset({4, 24}), frozenset({4, 5}), frozenset({4, 17}),
              frozenset({-4})),
    "contempt": (frozenset({14}), frozenset({12})),  # one-sided only: the asymmetry is checked by the rule engine
}
MARKED_FROWN = 3.5  # AU4 this strong (fused, mostly geometry) is the anger brow even alone
EYES_SHUT: tuple[frozenset[int], ...] = (frozenset({43}),)
# Combinations that rule a label out although its signature shows: a smile-like mouth under knit brows (AU1+AU4),
# with the eyes shut under raised inner brows, or squeezed shut over closed lips (-43: the rule engine's marker
# for AU43 >= 4 with AU25 absent) is the crying face, and under a marked frown (-4) the shout, not happiness.
# A wrinkled nose (AU9) rules out anger: AU9 lowers the inner brows, so its AU4 is the nose wrinkler's.
CONTRA: dict[str, tuple[frozenset[int], ...]] = {
    "happiness": (frozenset({1, 4}), frozenset({1, 43}), frozenset({-43}), frozenset({-4})),
    "contempt": (frozenset({26}), frozenset({27}), frozenset({-4})),  # a smirk does not drop the jaw or frown
    # the nose wrinkler pulls the inner brows down too (FACS): lowered brows over a wrinkled nose are disgust
    "anger": (frozenset({9}),),
}
EYES_OPEN_LABELS = ("surprise", "fear", "anger")


def prototype_aus(label: str) -> set[int]:
    """The AU numbers of a label's prototype; for a compound, its own (Du et al.) and both components'.

    >>> sorted(prototype_aus("sadly angry"))
    [1, 4, 5, 7, 15, 17, 23, 24, 43]
    """
    from emoreason.labels import COMPOUND_LABELS, components

    found = set(PROTOTYPES.get(label, {}))
    if label in COMPOUND_LABELS:
        for part in components(label):
            found |= set(PROTOTYPES.get(part, {}))
    return found

_AU_KEY = re.compile(r"^\s*(?:AU)?\s*0*(\d{1,2})\s*([LR])?\s*(?:_[rc])?\s*$", re.IGNORECASE)


def au_key(number: int, side: str | None = None) -> str:
    """Canonical AU key: ``au_key(12) == "AU12"``, ``au_key(14, "L") == "AU14L"``."""
    return f"AU{int(number)}{side or ''}"


def parse_au_key(key: str | int) -> tuple[int, str | None]:
    """Inverse of :func:`au_key`; also accepts ``12``, ``"au 12"``, ``"AU01"``, ``"AU12_r"``. Raises ValueError."""
    if isinstance(key, int):
        return key, None
    return _parse_au_text(str(key))


@functools.lru_cache(maxsize=1024)  # a few dozen distinct keys, parsed tens of thousands of times per video
def _parse_au_text(key: str) -> tuple[int, str | None]:
    m = _AU_KEY.match(key)
    if not m:
        raise ValueError(f"not an AU key: {key!r} (expected e.g. 'AU12', 'AU14L', 12)")
    side = m.group(2).upper() if m.group(2) else None
    return int(m.group(1)), side


def coerce_aus(obj: Any) -> dict[str, float]:
    """Turn any AU container into ``{"AU12": 3.1, ...}``: a dict (None values dropped, keys normalised),
    a list of ``(au, intensity)`` pairs or ``{"au":..., "intensity":...}`` dicts, a JSON string, or None.

    >>> coerce_aus({"au 12": 3, "AU6": None, 4: 1.5})
    {'AU12': 3.0, 'AU4': 1.5}
    """
    if obj is None or obj == "":
        return {}
    if isinstance(obj, str):
        obj = json.loads(obj)
    items: list[tuple[Any, Any]]
    if isinstance(obj, dict):
        items = list(obj.items())
    else:
        items = [(x["au"], x["intensity"]) if isinstance(x, dict) else (x[0], x[1]) for x in obj]
    out: dict[str, float] = {}
    for key, value in items:
        if value is None:
            continue
        number, side = parse_au_key(key)
        out[au_key(number, side)] = float(value)
    return out


def bilateral(aus: dict[str, float]) -> dict[int, float]:
    """Collapse sided keys to one intensity per AU number (the stronger side)."""
    out: dict[int, float] = {}
    for key, value in aus.items():
        number, _ = parse_au_key(key)
        out[number] = max(out.get(number, 0.0), float(value))
    return out


def asymmetry(aus: dict[str, float], number: int) -> float:
    """|left - right| intensity for one AU, 0 when the sides are not given separately."""
    left, right = aus.get(au_key(number, "L")), aus.get(au_key(number, "R"))
    if left is None or right is None:
        return 0.0
    return abs(left - right)


def present(aus: dict[str, float], threshold: float = PRESENCE_THRESHOLD) -> set[int]:
    """AU numbers at or above the presence threshold (either side)."""
    return {n for n, v in bilateral(aus).items() if v >= threshold}


PRESENT, UNCERTAIN, ABSENT, UNREADABLE = "present", "uncertain", "absent", "unreadable"


def au_states(
    aus: dict[str, float],
    threshold: float = PRESENCE_THRESHOLD,
    uncertain: Iterable[str] = (),
    unreadable: Iterable[int] = (),
) -> dict[int, str]:
    """What the face shows, one decision per AU number, which every sentence about it consults (the CoT's
    observations and interpretation, the caption's plain words, the chat's answers): ``PRESENT`` at or above
    ``threshold`` (the stronger side), ``UNCERTAIN`` when present but its readings disagree (``uncertain`` keys),
    ``UNREADABLE`` when the face cannot show it (``unreadable``: the eye AUs of shut eyes), ``ABSENT`` otherwise.
    Only the AUs of ``aus`` and ``unreadable`` are keys; look any other up with ``.get(n, ABSENT)``.

    >>> au_states({"AU12": 3.0, "AU6": 0.4, "AU1": 2.0}, uncertain=["AU1"], unreadable=[5])
    {12: 'present', 6: 'absent', 1: 'uncertain', 5: 'unreadable'}
    """
    doubtful = uncertain_numbers(uncertain)
    states = {
        n: (UNCERTAIN if n in doubtful else PRESENT) if v >= threshold else ABSENT for n, v in bilateral(aus).items()
    }
    for n in unreadable:
        if states.get(n, ABSENT) == ABSENT:
            states[n] = UNREADABLE
    return states


def shows(states: dict[int, str], number: int) -> bool:
    """Whether ``au_states`` has the AU as seen (present or uncertain): what a sentence may say the face shows."""
    return states.get(number, ABSENT) in (PRESENT, UNCERTAIN)


def intensity_letter(value: float) -> str | None:
    """FACS letter for a 0..5 intensity, or None below a trace (0.5). 1->A ... 5->E."""
    if value < 0.5:
        return None
    return "ABCDE"[min(4, max(0, round(value) - 1))]


def intensity_word(value: float) -> str:
    letter = intensity_letter(value)
    return INTENSITY_WORDS[letter] if letter else "absent"


def au_name(number: int) -> str:
    au = AU_TABLE.get(number)
    return au.name if au else f"action unit {number}"


def au_phrase(key: str | int, value: float, uncertain: bool = False) -> str:
    """One AU in words, the form the rule engine cites: ``AU12 lip corner puller (marked)``.

    ``uncertain`` (the landmark geometry and the blendshapes disagree on it) is said in the parentheses.

    >>> au_phrase("AU14L", 2.2), au_phrase("AU4", 2.0, uncertain=True)
    ('AU14L dimpler (slight, left side)', 'AU4 brow lowerer (slight, uncertain)')
    """
    number, side = parse_au_key(key)
    detail = intensity_word(value)
    if side:
        detail += ", left side" if side == "L" else ", right side"
    if uncertain:
        detail += ", uncertain"
    return f"{au_key(number, side)} {au_name(number)} ({detail})"


def uncertain_numbers(uncertain: Iterable[str] = ()) -> set[int]:
    """AU numbers of a list of uncertain AU keys (``["AU4", "AU12L"]`` -> {4, 12})."""
    return {parse_au_key(key)[0] for key in uncertain}


def _merged_for_text(aus: dict[str, float], threshold: float) -> list[tuple[str, float]]:
    """Keep sided keys only when the sides differ enough to matter; otherwise report the bilateral AU."""
    by_number: dict[int, dict[str | None, float]] = {}
    for key, value in aus.items():
        if value is None:  # an AU a dataset row's struct has for other rows
            continue
        number, side = parse_au_key(key)
        by_number.setdefault(number, {})[side] = float(value)
    out: list[tuple[str, float]] = []
    for number, sides in by_number.items():
        left, right = sides.get("L"), sides.get("R")
        if left is not None and right is not None and abs(left - right) >= 1.0:
            out += [(au_key(number, s), v) for s, v in (("L", left), ("R", right)) if v >= threshold]
        else:
            value = max(sides.values())
            if value >= threshold:
                out.append((au_key(number), value))
    return sorted(out, key=lambda kv: (-kv[1], parse_au_key(kv[0])[0]))


def active_aus(aus: dict[str, float], threshold: float = PRESENCE_THRESHOLD) -> list[tuple[str, float]]:
    """The AUs worth describing, strongest first, with sided keys only where the face is asymmetric."""
    return _merged_for_text(aus, threshold)


def au_text(
    aus: dict[str, float],
    threshold: float = PRESENCE_THRESHOLD,
    with_description: bool = False,
    uncertain: Iterable[str] = (),
) -> str:
    """The one place AU intensities become text, for prompts, CoTs and the UI.

    >>> au_text({"AU6": 2.4, "AU12": 3.2, "AU4": 0.2})
    'AU12 lip corner puller (marked); AU6 cheek raiser (slight)'
    """
    aus = {k: v for k, v in aus.items() if v is not None}  # a dataset row's struct has every row's AUs
    items = active_aus(aus, threshold)
    if not items:
        return "No action units above the presence threshold (a relaxed, neutral face)."
    states = au_states(aus, threshold, uncertain)
    parts = []
    for key, value in items:
        phrase = au_phrase(key, value, states[parse_au_key(key)[0]] == UNCERTAIN)
        if with_description:
            au = AU_TABLE.get(parse_au_key(key)[0])
            if au:
                phrase += f": {au.description}"
        parts.append(phrase)
    return "; ".join(parts)


def au_change_text(start: dict[str, float], end: dict[str, float], min_change: float = 1.0) -> str:
    """Describe how AUs changed over a window, strongest change first: ``AU12 rises from 0.4 to 3.1``.

    >>> au_change_text({"AU12": 0.4}, {"AU12": 3.1, "AU4": 0.0})
    'AU12 lip corner puller rises from 0.4 to 3.1'
    """
    a, b = bilateral(start), bilateral(end)
    changes = []
    for number in sorted(set(a) | set(b)):
        before, after = a.get(number, 0.0), b.get(number, 0.0)
        if abs(after - before) >= min_change:
            verb = "rises" if after > before else "falls"
            text = f"{au_key(number)} {au_name(number)} {verb} from {before:.1f} to {after:.1f}"
            changes.append((abs(after - before), text))
    if not changes:
        return ""
    return "; ".join(text for _, text in sorted(changes, key=lambda c: -c[0]))
