"""What a face shows for one label: the cues of its FACS pattern that are seen, missing or unreadable, the movements
the pattern does not explain, and what rules the label out.

It reads the one per-AU decision, ``facs.au_states`` (present / uncertain / absent / unreadable), against the
label's prototype, signatures and contra-indications (``facs.PROTOTYPES``, ``SIGNATURES``, ``CONTRA``, as
``reasoning.rules`` scores them). The rules CoT (``rules_text``) and the chat's answers (``chat.answers``) both say
these cues, so no sentence calls a movement visible that another calls missing. Sentences name an AU by its code
only when the face shows it ("AU12 (lip corner puller)"), and an absent one by its name alone ("a cheek raiser"):
the AUs a CoT cites stay exactly the AUs the face shows (what AU-F1 and evidence consistency read).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from emoreason import facs
from emoreason.labels import COMPOUND_LABELS, components
from emoreason.text import join

# What a contra-indication (facs.CONTRA) means, in words: (label, AUs) -> why the label does not hold.
CONTRA_WORDS: dict[tuple[str, frozenset[int]], str] = {
    ("happiness", frozenset({1, 4})): "a smile-like mouth under raised and lowered inner brows is the crying face",
    ("happiness", frozenset({1, 43})): "a smile-like mouth with the eyes shut under raised inner brows is the crying "
    "face",
    ("happiness", frozenset({-43})): "a smile-like mouth with the eyes squeezed shut over closed lips is the crying "
    "face",
    ("happiness", frozenset({-4})): "a smile-like mouth under a marked frown is a shout",
    ("contempt", frozenset({26})): "a smirk does not drop the jaw",
    ("contempt", frozenset({27})): "a smirk does not stretch the mouth open",
    ("contempt", frozenset({-4})): "a smirk does not come with a marked frown",
    ("anger", frozenset({9})): "a wrinkled nose pulls the brows down too, so the lowered brows are the nose "
    "wrinkler's",
}
PSEUDO_WORDS = {-43: "the eyes squeezed shut over closed lips", -4: "a marked frown"}  # rules._marked


@dataclass
class Cues:
    """One label's cues on one face (module docstring)."""

    label: str
    seen: list[str] = field(default_factory=list)  # AU keys of the label's pattern the face shows, strongest first
    doubtful: list[str] = field(default_factory=list)  # those of ``seen`` read as uncertain
    missing: list[int] = field(default_factory=list)  # core AUs (weight 1) of the label's own prototype, absent
    unreadable: list[int] = field(default_factory=list)  # core AUs the face cannot show (the eye AUs of shut eyes)
    unexplained: list[str] = field(default_factory=list)  # AU keys the face shows that the pattern leaves out
    signature: bool = False  # the label's signature shows (rules.signature_shown; neutral: no movement at all)
    against: list[str] = field(default_factory=list)  # what rules the label out or weakens it, in words
    states: dict[int, str] = field(default_factory=dict)  # the per-AU decision these were read from
    strength: dict[str, float] = field(default_factory=dict)  # intensity of each shown AU key (facs.active_aus)
    aus: dict[str, float] = field(default_factory=dict)  # the face's AUs
    threshold: float = facs.PRESENCE_THRESHOLD

    @property
    def full(self) -> bool:
        """Every core AU of the prototype is seen."""
        return not self.missing and not self.unreadable


def unreadable_aus(flags: Iterable[str]) -> tuple[int, ...]:
    """The AUs a face's quality flags make unreadable: the eye AUs (``perception.readings.EYE_AUS``, dropped from the
    reading) when the eyes are closed."""
    if "eyes_closed" not in set(flags):
        return ()
    from emoreason.perception.readings import EYE_AUS

    return tuple(EYE_AUS)


def au_states(
    aus: dict[str, float],
    threshold: float = facs.PRESENCE_THRESHOLD,
    uncertain: Iterable[str] = (),
    flags: Iterable[str] = (),
) -> dict[int, str]:
    """``facs.au_states`` of one face, with its quality flags' unreadable AUs."""
    return facs.au_states(aus, threshold, uncertain, unreadable_aus(flags))


def name(number: int, states: dict[int, str]) -> str:
    """An AU as a sentence may name it: by code when the face shows it, by its name alone when it does not.

    >>> name(12, {12: "present"}), name(6, {})
    ('AU12 (lip corner puller)', 'a cheek raiser')
    """
    if facs.shows(states, number):
        return f"{facs.au_key(number)} ({facs.au_name(number)})"
    return _NOUNS.get(number) or indefinite(facs.au_name(number))


_NOUNS = {43: "closed eyes", 25: "parted lips", 45: "a blink"}  # AU names that take no article


def indefinite(noun: str) -> str:
    """``noun`` with its indefinite article: "an inner brow raiser", "a lip corner puller"."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def label_cues(
    label: str,
    aus: dict[str, float],
    threshold: float = facs.PRESENCE_THRESHOLD,
    uncertain: Iterable[str] = (),
    flags: Iterable[str] = (),
) -> Cues:
    """The cues of ``label`` on the face with these AUs (module docstring).

    >>> c = label_cues("surprise", {"AU1": 1.5, "AU25": 5.0, "AU26": 4.4})
    >>> c.seen, c.missing, c.signature
    (['AU25', 'AU26', 'AU1'], [2], True)
    >>> label_cues("happiness", {"AU12": 4.0, "AU1": 3.0, "AU43": 5.0, "AU25": 3.0}).against
    ['a smile-like mouth with the eyes shut under raised inner brows is the crying face (AU1, AU43)']
    """
    aus = facs.coerce_aus(aus)
    uncertain = list(uncertain)
    states = au_states(aus, threshold, uncertain, flags)
    strength = dict(facs.active_aus(aus, threshold))
    shown_keys = list(strength)
    pattern = facs.prototype_aus(label)
    own = facs.PROTOTYPES.get(label, {})
    core = sorted(n for n, w in own.items() if w >= 1.0)
    cues = Cues(label=label, states=states, strength=strength, aus=aus, threshold=threshold)
    cues.seen = [k for k in shown_keys if facs.parse_au_key(k)[0] in pattern]
    cues.doubtful = [k for k in cues.seen if states[facs.parse_au_key(k)[0]] == facs.UNCERTAIN]
    cues.missing = [n for n in core if states.get(n, facs.ABSENT) == facs.ABSENT]
    cues.unreadable = [n for n in core if states.get(n) == facs.UNREADABLE]
    cues.unexplained = [k for k in shown_keys if facs.parse_au_key(k)[0] not in pattern]
    cues.signature, cues.against = _against(label, aus, threshold, states, shown_keys)
    return cues


def unexplained_signs(cues: Cues) -> tuple[list[str], str]:
    """The AUs the face shows at a sign's strength (``rules.SIGN_MIN``) that ``cues.label``'s pattern leaves out,
    and, when they are the core of another label that a contra-indication rules out, why in words (else "").

    >>> unexplained_signs(label_cues("sadness", {"AU12": 4.0, "AU1": 3.0, "AU43": 5.0}))
    (['AU12'], 'a smile-like mouth with the eyes shut under raised inner brows is the crying face')
    """
    from emoreason.reasoning import rules

    signs = [k for k in cues.unexplained if cues.strength.get(k, 0.0) >= rules.SIGN_MIN]
    numbers = {facs.parse_au_key(k)[0] for k in signs}
    for other in facs.CONTRA:
        core = {n for n, w in facs.PROTOTYPES.get(other, {}).items() if w >= 1.0}
        if other != cues.label and numbers & core:
            against = _against(other, cues.aus, cues.threshold, cues.states, list(cues.strength))[1]
            ruled_out = [
                words
                for (label, _), words in CONTRA_WORDS.items()
                if label == other and any(reason.startswith(words) for reason in against)
            ]
            if ruled_out:  # the words alone: their AU codes may name sides the CoT cites differently
                return signs, ruled_out[0]
    return signs, ""


def _against(
    label: str, aus: dict[str, float], threshold: float, states: dict[int, str], shown_keys: list[str]
) -> tuple[bool, list[str]]:
    """(whether the label's signature shows, what rules it out or weakens it)."""
    from emoreason.reasoning import rules

    shown = rules._shown(aus, threshold) | rules._marked(aus)
    if label == "neutral":
        if not shown_keys:
            return True, []
        verb = "is a visible movement" if len(shown_keys) == 1 else "are visible movements"
        return False, [f"{join(shown_keys)} {verb}"]
    if label in COMPOUND_LABELS:
        parts = components(label)
        lacking = [part for part in parts if not rules.signature_shown(part, shown)]
        reasons = []
        for part in lacking:
            blocked = [r for r in _against(part, aus, threshold, states, shown_keys)[1] if "signature" not in r]
            reasons += [f"{part} is ruled out: {r}" for r in blocked] or [
                f"{part}'s signature is not shown ({_nearest(part, shown, states)})"
            ]
        return not lacking, reasons
    reasons = []
    if label in facs.EYES_OPEN_LABELS and any(sig <= shown for sig in facs.EYES_SHUT):
        reasons.append(f"the eyes are closed ({facs.au_key(43)}), and {label} shows with the eyes open")
    for contra in facs.CONTRA.get(label, ()):
        if contra <= shown:
            codes = ", ".join(facs.au_key(n) for n in sorted(contra) if n > 0)
            reasons.append(
                CONTRA_WORDS.get((label, contra), "a contra-indication shows") + (f" ({codes})" if codes else "")
            )
    if label == "contempt":
        one_sided = max(rules._one_sided(aus, n) for n in facs.CONTEMPT_UNILATERAL)
        signature = one_sided >= rules.SIGN_MIN and not reasons
        if one_sided < rules.SIGN_MIN:
            reasons.append("no one-sided dimpler or lip corner puller shows (a smirk is one-sided)")
        return signature, reasons
    if not any(sig <= shown for sig in facs.SIGNATURES.get(label, ())):
        reasons.append(f"its signature is not shown ({_nearest(label, shown, states)})")
    return rules.signature_shown(label, shown), reasons


def _nearest(label: str, shown: set[int], states: dict[int, str]) -> str:
    """The signature of ``label`` the face comes closest to, and what it lacks: "it needs a lip corner depressor, or
    a brow lowerer with AU1 (inner brow raiser)"."""
    from emoreason.reasoning.rules import SIGN_MIN

    sigs = [sig for sig in facs.SIGNATURES.get(label, ()) if all(n > 0 for n in sig) and not sig <= shown]
    if not sigs:
        return "its pattern does not show"
    ranked = sorted(sigs, key=lambda sig: (-len(sig & shown), len(sig - shown), sorted(sig)))
    options = []
    for sig in ranked[:2]:
        lack = [n for n in sorted(sig) if n not in shown]
        have = [n for n in sorted(sig) if n in shown]
        words = []
        for n in lack:
            if facs.shows(states, n):  # seen, but below a sign's strength
                words.append(
                    f"a stronger {facs.au_name(n)} ({facs.au_key(n)} is only a trace; a sign needs at least "
                    f"{facs.intensity_word(SIGN_MIN)})"
                )
            elif states.get(n) == facs.UNREADABLE:
                words.append(f"{name(n, states)} (not readable with the eyes closed)")
            else:
                words.append(name(n, states))
        option = join(words)
        if have:
            option += " with " + join([name(n, states) for n in have])
        options.append(option)
    return "it needs " + " or ".join(options)
