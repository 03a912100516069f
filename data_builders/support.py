"""Evidence support of a dataset row: do the row's own AUs back its gold label?

One definition: :func:`emoreason.eval.consistency.evidence_support`, the function behind the evidence-consistency
metric and the GRPO consistency reward, applied to the AUs the row's face shows (:func:`cited_aus`:
``facs.active_aus``, the AUs at or above the presence threshold, exactly the AUs a rule-engine CoT cites). So a
row's ``meta.support`` is the evidence consistency a model would score if it cited what the face shows and
answered the gold label.

Verdicts (``meta.evidence``):

- ``supported``: ``support >= SUPPORTED``;
- ``contradicts``: the AUs point clearly at another label: the label they imply (``consistency.implied_label``)
  is an emotion other than the gold one (not neutral, not a component of a compound gold label or vice versa),
  that label's own support is at least ``CLEAR``, and the gold label's support is below ``SUPPORTED``;
- ``weak``: neither (the movements are too faint or too mixed to back the label: it rests on the annotation);
- ``unchecked``: nothing to check against: no AUs were measured (``aus`` is None, or the face was read by the face
  model alone, flagged ``no_landmarks``: :func:`aus_unread`), or the gold label has no FACS prototype
  (open-vocabulary classes such as anxiety). ``support`` is None.

Speech and prosody do not enter the score: the one support function reads AUs only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emoreason.facs import active_aus, coerce_aus
from emoreason.labels import components

SUPPORTED = 0.5  # support at or above this: the AUs back the gold label
CLEAR = 0.5  # the implied label's own support must reach this for the row to count as contradicting
VERDICTS = ("supported", "weak", "contradicts", "unchecked")


@dataclass(frozen=True)
class Support:
    """How a row's evidence relates to its gold label (see the module docstring)."""

    support: float | None
    implied: str | None  # the label the present AUs imply best
    verdict: str

    @property
    def contradicts(self) -> bool:
        return self.verdict == "contradicts"


def _related(a: str, b: str) -> bool:
    """Same label, or one is a component of the other (happiness vs "happily surprised")."""
    return a == b or a in components(b) or b in components(a)


def cited_aus(aus: Any) -> list[str]:
    """The AU keys a CoT that cites what the face shows would cite (sided keys only where the face is asymmetric)."""
    return [key for key, _ in active_aus(coerce_aus(aus))]


def aus_unread(row: dict[str, Any]) -> bool:
    """The row's AUs were never read (no AU source, or no landmarks on the face): an empty ``aus`` then says nothing
    about the face, not that it is relaxed.

    >>> aus_unread({"aus": {}, "meta": {"quality": ["no_landmarks"]}}), aus_unread({"aus": {}})
    (True, False)
    """
    return row.get("aus") is None or "no_landmarks" in ((row.get("meta") or {}).get("quality") or [])


def row_support(row: dict[str, Any]) -> Support:
    """The :class:`Support` of one row (``aus`` and ``label``/``labels`` as in the row format).

    >>> row_support({"aus": {"AU6": 3.0, "AU12": 3.0}, "label": "happiness"}).verdict
    'supported'
    >>> s = row_support({"aus": {"AU6": 3.0, "AU12": 3.0}, "label": "sadness"})
    >>> s.support, s.implied, s.verdict
    (0.0, 'happiness', 'contradicts')
    >>> row_support({"aus": {}, "label": "anger"}).verdict  # a relaxed face does not back anger
    'weak'
    >>> row_support({"aus": {}, "label": "anger", "meta": {"quality": ["no_landmarks"]}}).verdict  # AUs not read
    'unchecked'
    """
    from emoreason.data_builders.cot import gold_answer
    from emoreason.eval.consistency import evidence_support, implied_label

    gold = gold_answer(row)
    if aus_unread(row) or gold is None:
        return Support(None, None, "unchecked")
    cited = cited_aus(row["aus"])
    support = evidence_support(cited, gold)
    if support is None:
        return Support(None, None, "unchecked")
    implied = implied_label(cited)
    if support >= SUPPORTED:
        return Support(support, implied, "supported")
    other = evidence_support(cited, implied) or 0.0
    clear = implied != "neutral" and not _related(implied, gold) and other >= CLEAR
    return Support(round(support, 4), implied, "contradicts" if clear else "weak")
