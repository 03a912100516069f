"""The rules CoT's text: the Key observations and Overall interpretation that ``rules.explain`` writes.

The scoring (and every number it uses, with the formula) is in :mod:`emoreason.reasoning.rules`; this module only
turns one scoring (``_Reading``) into sentences: the observed AUs with their descriptions, change over time, reading
quality, speech and prosody; which cited AUs support the label (``facs.prototype_aus``) and which of its core AUs are
missing; ties, a runner-up, the words against the face, and the tentative hedge (``TENTATIVE_FLAGS``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from emoreason import facs
from emoreason.labels import COMPOUND_LABELS, components
from emoreason.reasoning.cues import Cues, name, unexplained_signs
from emoreason.text import join

# Plain-words prototype notes, each said only when the face shows one of its AU sets in full (``Cues.states``): a
# note describes movements, so it must not name one the face lacks. They name no AU numbers: only AUs actually
# observed are cited as AU<n>, so the AUs a CoT cites are exactly the AUs the face shows (what AU-F1 and evidence
# consistency measure).
_PROTOTYPE_NOTES: dict[str, tuple[tuple[frozenset[int], ...], str]] = {
    "happiness": (
        (frozenset({6, 12}),),
        "a cheek raiser with a lip corner puller is the Duchenne smile, the EMFACS prototype of happiness",
    ),
    "sadness": (
        (frozenset({1, 15}),),
        "raised inner brows with lowered lip corners form the EMFACS prototype of sadness",
    ),
    "surprise": (
        (frozenset({1, 2, 5, 26}), frozenset({1, 2, 5, 27})),
        "raised brows, widened eyes and a dropped jaw form the prototype of surprise",
    ),
    "fear": (
        (frozenset({1, 2, 4, 5, 20}),),
        "raised and drawn-together brows, wide eyes and stretched lips signal fear",
    ),
    "disgust": ((frozenset({9}), frozenset({10})), "a wrinkled nose or raised upper lip is the prototype of disgust"),
    "anger": (
        tuple(frozenset({4, eyes, lips}) for eyes in (5, 7) for lips in (23, 24)),
        "lowered brows, glaring eyes and tightened lips form the prototype of anger",
    ),
    "contempt": ((frozenset({14}),), "a one-sided dimpler (a smirk) is the prototype of contempt"),
}


def _quote(transcript: str, limit: int = 240) -> str:
    """The transcript as an exact substring (cut at a word boundary), so transcript grounding holds."""
    text = " ".join(transcript.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut


def _au_number(token: str) -> int | None:
    try:
        return facs.parse_au_key(token)[0]
    except ValueError:
        return None


def _observations(
    aus: dict[str, float],
    threshold: float,
    transcript: str,
    prosody: str,
    changes: str = "",
    face: bool = True,
    uncertain: Iterable[str] = (),
    quality: str = "",
    has_aus: bool = True,
    expression: dict[str, float] | None = None,
) -> tuple[str, list[str]]:
    items = facs.active_aus(aus, threshold) if has_aus else []
    cited = [key for key, _ in items]
    if items:
        text = facs.au_text(aus, threshold, with_description=True, uncertain=uncertain) + "."
    elif not face:
        text = "No face is visible in this window; only the speech can be read."
    elif not has_aus:
        text = "The face is read from the image alone: no landmarks were found, so no action units are available."
    else:
        text = "No action unit reaches the presence threshold; the face is relaxed."
    # Only changes of AUs active at the peak are cited, so the CoT never cites an AU that is not present.
    shown = {facs.parse_au_key(key)[0] for key in cited}
    moved = [c for c in changes.split("; ") if c.strip() and _au_number(c.split()[0]) in shown]
    if moved:
        text += f" Over time: {'; '.join(moved)}."
    if face and expression:
        text += f" Face model: {expression_text(expression)}."
    if face and quality.strip():
        text += f" Reading quality: {quality.strip().rstrip('.')}."
    if transcript.strip():
        quote = _quote(transcript)
        text += f' Speech: "{quote}"' + ("" if quote[-1] in ".!?" else ".")
    if prosody.strip():
        text += f" Prosody: {prosody.strip().rstrip('.')}."
    return text, cited


def expression_text(expression: dict[str, float], top: int = 3) -> str:
    """The face model's strongest readings in words, for the CoT and the prompt: "sadness 0.71, fear 0.12, ..."."""
    ranked = sorted(expression.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{label} {p:.2f}" for label, p in ranked)


def _note(cues: Cues) -> str:
    """The label's prototype note when the face shows it (``_PROTOTYPE_NOTES``), else ""."""
    if cues.label in COMPOUND_LABELS:
        a, b = components(cues.label)
        return f"the face mixes the signs of {a} and {b}, the compound pattern called {cues.label}"
    sets, note = _PROTOTYPE_NOTES.get(cues.label, ((), ""))
    shown = any(all(facs.shows(cues.states, n) for n in aus) for aus in sets)
    return note if shown and cues.signature else ""


@dataclass
class _Reading:
    """What the interpretation needs to know about one scoring."""

    label: str
    best: str
    tied: list[str]
    scores: dict[str, float]
    cited: list[str]
    spoken: set[str]
    decided_by: str
    tie: float  # rules.TIE: a runner-up this close is a tie, not a lean
    face: bool = True
    tentative: bool = False
    model_label: str | None = None  # the face model's own top label (None: no model reading)
    model_probability: float = 0.0
    rules_label: str | None = None  # the AUs' own label (None: no AUs, a crop without landmarks)
    has_aus: bool = True
    cues: Cues | None = None  # what the face shows for ``label`` (reasoning.cues): every AU sentence reads it


UNSURE = 0.6  # a face model probability below this, deciding alone, makes the reading uncertain


def _agrees(label: str | None, other: str | None) -> bool:
    return label is not None and other is not None and (label == other or other in components(label))


def _channel_sentence(r: _Reading) -> str | None:
    """Which evidence channel decided, and where the face model and the AUs disagree (None without a model).
    It names no AU: the AUs that support the label are cited by the sentences after it, from the observations."""
    m, p = r.model_label, r.model_probability
    if m is None:
        return None
    unsure = ", so the reading is uncertain" if p < UNSURE else ""
    if not r.has_aus:
        return f"No action units can be read on this crop; the face model alone reads {m} ({p:.2f}){unsure}"
    if r.best == m and _agrees(r.rules_label, m):
        return f"The face model reads {m} ({p:.2f}), and the action units agree"
    if r.best == m and r.rules_label == "neutral":
        return f"The action units alone look neutral; the face model's {m}, {p:.2f}, decides{unsure}"
    if _agrees(r.best, m):
        return f"The action units lean towards {r.rules_label}, but the face model reads {m} ({p:.2f}), which decides"
    if r.best == r.rules_label:
        return (f"The face model leans towards {m} ({p:.2f}), but the action units show the pattern of {r.best}, "
                "which decides")
    return (f"The face model leans towards {m} ({p:.2f}) and the action units towards {r.rules_label}; together "
            f"they fit {r.best} best ({r.scores.get(r.best, 0.0):.2f})")


def _face_sentences(r: _Reading) -> list[str]:
    label = r.label
    if label == "neutral":
        if r.cited:
            return ["The movements seen do not add up to a clear emotional display"]
        return ["Without a marked muscle movement the face shows no clear emotional display"]
    cues = r.cues
    assert cues is not None, "rules.explain reads the cues of the label it explains"
    sentences: list[str] = []
    note = _note(cues)
    if cues.seen:
        named = [_cited(key, cues) for key in cues.seen]
        verb = "matches" if len(named) == 1 else "match"
        sentences.append(f"{join(named)} {verb} the expected pattern of {label}" + (f": {note}" if note else ""))
    elif r.decided_by == "speech":
        sentences.append(f"The visible movements are weak and give little direct support for {label}")
    else:
        sentences.append(f"The observed action units give little direct support for {label}")
    if cues.seen and cues.missing:
        words = [name(n, cues.states) for n in cues.missing[:3]]
        verb = "is" if len(words) == 1 else "are"
        sentences.append(f"{join(words).capitalize()} would strengthen this reading but {verb} not visible")
    if cues.seen and cues.unreadable:
        words = [name(n, cues.states) for n in cues.unreadable[:3]]
        sentences.append(f"{join(words).capitalize()} would strengthen this reading but cannot be read with the eyes "
                         "closed")
    sentences += _unexplained_sentences(cues, r.cited)
    return sentences


def _cited(key: str, cues: Cues) -> str:
    """A seen AU as the interpretation cites it: "AU12 (lip corner puller)", "AU12 (lip corner puller, uncertain)"."""
    doubt = ", uncertain" if cues.states.get(facs.parse_au_key(key)[0]) == facs.UNCERTAIN else ""
    return f"{key} ({facs.au_name(facs.parse_au_key(key)[0])}{doubt})"


def _unexplained_sentences(cues: Cues, cited: list[str]) -> list[str]:
    """The signs the face shows that the label's pattern leaves out, and, where they are another label's signs that
    a contra-indication rules out, why (a lip corner puller on a crying face): ``cues.unexplained_signs``."""
    signs, why = unexplained_signs(cues)
    signs = [key for key in signs if key in cited]
    if not signs:
        return []
    named = [_cited(key, cues) for key in signs[:3]]
    verb = "is" if len(named) == 1 else "are"
    return [f"{join(named)} {verb} not part of the {cues.label} pattern" + (f"; {why}" if why else "")]


def _interpretation(r: _Reading) -> str:
    if not r.face:
        if r.label in r.spoken:
            return f"With no face to read, the words alone name {r.label}."
        return "With no face to read and no emotion named in the words, nothing shows an emotion."
    channel = _channel_sentence(r)
    sentences = ([channel] if channel else []) + (_face_sentences(r) if r.has_aus else [])
    own = r.scores.get(r.label, 0.0)
    tied = [lab for lab in r.tied if lab != r.label]
    if r.label == r.best and tied and r.model_label is not None:
        ranked_tied = ", ".join(f"{t} {r.scores.get(t, 0.0):.2f}" for t in tied)
        sentences.append(f"{join([t.capitalize() for t in tied])} {'is' if len(tied) == 1 else 'are'} nearly as "
                         f"likely ({ranked_tied} against {own:.2f}), so the reading is uncertain")
    elif r.label == r.best and tied:
        sentences.append(
            f"{join([t.capitalize() for t in tied])} {'fits' if len(tied) == 1 else 'fit'} about equally well "
            f"({own:.2f}); {r.label} is chosen because its pattern accounts for more of the observed movements"
        )
    else:
        ranked = sorted(((s, lab) for lab, s in r.scores.items() if lab != r.label), reverse=True)
        if ranked and 0.15 < ranked[0][0] <= own - r.tie:  # a higher-scoring runner-up is said below, as the lean
            runner, other = ranked[0][1].capitalize(), ranked[0][0]
            sentences.append(f"{runner} fits less well (probability {other:.2f} against {own:.2f})")
    if r.label != r.best:
        sentences.append(f"The face alone leans towards {r.best}, but the given label is {r.label}")
    if r.spoken:
        said = ", ".join(sorted(r.spoken))
        agree = r.label in r.spoken or any(part in r.spoken for part in components(r.label))
        if r.decided_by == "speech":
            sentences.append(f"The face shows little, and the words name {said}, so the words decide")
        else:
            sentences.append(f"The words name {said}, which {'agrees with' if agree else 'differs from'} the face")
            if not agree and r.label == r.best:
                sentences.append("The face is read more clearly than the words, so the face decides")
    if r.tentative and r.label == "neutral":
        sentences.append("Given the reading quality noted above, weak movements may have been missed")
    elif r.tentative:
        sentences.append("Given the reading quality noted above, this reading is tentative")
    return ". ".join(sentences) + "."


TENTATIVE_FLAGS = ("turned_face", "small_face", "low_confidence", "eyes_closed", "cut_off")
