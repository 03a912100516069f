"""The one parser for model text. Rewards, eval, the data builders, the CLI and the UI all call :func:`parse_output`.

Expected format::

    <think>
    Key observations: ...
    Overall interpretation: ...
    Conclusion: ...
    </think>
    <answer>LABEL</answer>

It never raises: whatever the text, it returns a :class:`ParsedOutput` with flags set.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from emoreason.facs import au_key
from emoreason.labels import LabelSet, normalize_label, normalize_labels
from emoreason.text import emotion_mentions, is_negated

SECTION_NAMES: tuple[str, ...] = ("key_observations", "overall_interpretation", "conclusion")
_SECTION_HEADINGS = {
    "key_observations": r"key\s+observations?",
    "overall_interpretation": r"overall\s+interpretation",
    "conclusion": r"conclusions?",
}
_HEADING = re.compile(
    r"(?im)^[ \t]*(?:[#*\-\d.]+\s*)?\**\s*(" + "|".join(_SECTION_HEADINGS.values()) + r")\s*\**\s*[:\-]?\**"
)
_THINK = re.compile(r"<think>(.*?)</think>", re.S | re.I)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_FULL = re.compile(
    r"^\s*<think>(?:(?!</?think>|</?answer>).)*</think>\s*<answer>(?:(?!</?answer>|</?think>).)*</answer>\s*$",
    re.S | re.I,
)
# AU citations: AU12, AU 12, AU12L, AU-12, AU12 (lip corner puller); "AU12+AU6" and "AUs 6 and 12" too.
_AU = re.compile(r"\bAU[\s\-_]?0*(\d{1,2})([LR])?(?![\d])", re.I)
_AU_LIST = re.compile(r"\bAUs\s+((?:\d{1,2}[LR]?(?:\s*(?:,|and|\+|&)\s*)?)+)", re.I)
_CONCLUSION_LABEL = re.compile(
    r"(?:is|as|of|indicates?|suggests?|shows?|expresses|conveys|reflects?|label|express(?:ion|es)?|emotion)"
    r"\s*(?::|is)?\s*\"?'?\**([a-z][a-z \-]{1,40}?)\**\"?'?\s*(?:[.,;!]|$)",
    re.I,
)


@dataclass
class ParsedOutput:
    """What :func:`parse_output` read from one model output."""

    answer: str | None = None  # text inside the (first) <answer>, stripped
    label: str | None = None  # canonical label (basic or compound), or None
    labels: list[str] = field(default_factory=list)  # all canonical/extended labels in the answer, in order
    aus: list[str] = field(default_factory=list)  # AUs cited in <think>, canonical keys, first-seen order
    think: str | None = None
    sections: dict[str, str] = field(default_factory=dict)  # key_observations / overall_interpretation / conclusion
    conclusion_label: str | None = None  # the label the Conclusion section names, if any
    format_ok: bool = False  # exact <think>…</think><answer>…</answer> with all three sections
    truncated: bool = False  # text stops inside <think> or <answer>
    multiple_answers: bool = False

    @property
    def au_numbers(self) -> set[int]:
        return {int(re.match(r"AU(\d+)", a).group(1)) for a in self.aus}  # type: ignore[union-attr]

    def to_dict(self) -> dict:
        return asdict(self)


def cited_aus(text: str) -> list[str]:
    """AU keys cited in free text, first-seen order: 'AU12', 'AU 12', 'AU12L', 'AUs 6 and 12'.

    >>> cited_aus("AU 6 cheek raiser and AU12L; also AUs 25 and 26")
    ['AU6', 'AU12L', 'AU25', 'AU26']
    """
    found: list[tuple[int, str]] = []
    for m in _AU.finditer(text):
        found.append((m.start(), au_key(int(m.group(1)), (m.group(2) or "").upper() or None)))
    for m in _AU_LIST.finditer(text):
        for n in re.finditer(r"(\d{1,2})([LR])?", m.group(1)):
            found.append((m.start() + n.start(), au_key(int(n.group(1)), (n.group(2) or "").upper() or None)))
    out: list[str] = []
    for _, key in sorted(found, key=lambda f: f[0]):
        if key not in out:
            out.append(key)
    return out


def split_sections(think: str) -> dict[str, str]:
    """The three CoT sections by heading, each stripped; missing sections are absent from the dict."""
    marks = [(m.start(), m.end(), _section_name(m.group(1))) for m in _HEADING.finditer(think)]
    sections: dict[str, str] = {}
    for i, (_, end, name) in enumerate(marks):
        stop = marks[i + 1][0] if i + 1 < len(marks) else len(think)
        if name not in sections:
            sections[name] = think[end:stop].strip()
    return sections


def _section_name(heading: str) -> str:
    for name, pattern in _SECTION_HEADINGS.items():
        if re.fullmatch(pattern, heading.strip(), re.I):
            return name
    return "conclusion"


def conclusion_label(conclusion: str, label_set: LabelSet = "compound") -> str | None:
    """The label a Conclusion section names: the whole section, else the last "is/as/shows <label>" phrase, else the
    last emotion word; negated phrases and words are skipped (``text.is_negated``, ``text.emotion_mentions``).

    >>> conclusion_label("The evidence points to happiness."), conclusion_label("It does not show anger but fear.")
    ('happiness', 'fear')
    """
    whole = normalize_label(conclusion, label_set)
    if whole:
        return whole
    # "is/as/shows <label>" phrases, unless negated ("does not show happiness")
    candidates = [m.group(1) for m in _CONCLUSION_LABEL.finditer(conclusion) if not is_negated(conclusion, m.start(1))]
    for candidate in reversed(candidates):
        label = normalize_label(candidate, label_set)
        if label:
            return label
    # Fall back to the last emotion word that is not negated ("not anger but fear", "fear rather than anger").
    named = [m.label for m in emotion_mentions(conclusion, label_set) if not m.negated]
    return named[-1] if named else None


def parse_output(text: str | None, label_set: LabelSet = "compound") -> ParsedOutput:
    """Parse one model output. Never raises.

    >>> p = parse_output("<think>Key observations: AU6, AU12.\\nOverall interpretation: a smile.\\n"
    ...                  "Conclusion: happiness.</think><answer>happy</answer>")
    >>> p.label, p.aus, p.format_ok
    ('happiness', ['AU6', 'AU12'], True)
    """
    try:
        return _parse(text or "", label_set)
    except Exception:  # noqa: BLE001 - the contract is that model text never crashes a caller
        return ParsedOutput(answer=None, truncated=False)


def _parse(text: str, label_set: LabelSet) -> ParsedOutput:
    out = ParsedOutput()
    answers = _ANSWER.findall(text)
    out.multiple_answers = len(answers) > 1
    if answers:
        out.answer = answers[0].strip()
    think_match = _THINK.search(text)
    if think_match:
        out.think = think_match.group(1).strip()
    else:
        opened = re.search(r"<think>(.*)", text, re.S | re.I)
        if opened:  # cut off mid-<think>: keep what is there for AU citations
            out.think = re.split(r"<answer>", opened.group(1), flags=re.I)[0].strip()
    lower = text.lower()
    out.truncated = (lower.count("<think>") > lower.count("</think>")) or (
        lower.count("<answer>") > lower.count("</answer>")
    )
    if out.think:
        out.aus = cited_aus(out.think)
        out.sections = split_sections(out.think)
        if "conclusion" in out.sections:
            out.conclusion_label = conclusion_label(out.sections["conclusion"], label_set)
    if out.answer is not None:
        out.labels = normalize_labels(out.answer, "open" if label_set == "open" else label_set)
        out.label = normalize_label(out.answer, label_set)
        if out.label is None and len(out.labels) == 1 and out.labels[0] in _canonical():
            out.label = out.labels[0]
        if out.label is not None and out.label not in _canonical():
            out.label = None  # extended (open-vocabulary) words stay in `labels` only
    out.format_ok = bool(
        _FULL.match(text)
        and not out.multiple_answers
        and all(name in out.sections for name in SECTION_NAMES)
        and out.answer
    )
    return out


def _canonical() -> frozenset[str]:
    from emoreason.labels import CANONICAL_LABELS

    return frozenset(CANONICAL_LABELS)
