"""What a chat answer is about: one face or face track with the rule engine's reading of it (``Item``), made by the
session (:mod:`emoreason.chat.session`) and read by the answers (:mod:`emoreason.chat.answers`,
:mod:`emoreason.chat.reading`), so neither of those imports the other back for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from emoreason.schema import Evidence, Reasoning

if TYPE_CHECKING:
    from emoreason.reasoning.rules import RuleExplanation


@dataclass
class Item:
    """One face (photo) or one face track in one time window (video), with the rule engine's reading of it."""

    evidence: Evidence
    reasoning: Reasoning
    face: int  # 1-based face number within its attachment (a video's tracks are numbered in order)
    name: str  # the attachment's file name
    explanation: RuleExplanation | None = None  # the rule engine's own scores and label (chat_reading.explanation)
