"""CoT synthesis for dataset rows: the rule engine (Exp-CoT) or a teacher model with rejection sampling.

Both modes write the target ``<think>...</think><answer>LABEL</answer>`` for a row's GOLD label, and both run every
candidate through the same acceptance check (:func:`check`), built on the one parser:

1. ``parse_output(text).format_ok`` (the three sections, one ``<answer>``, nothing outside);
2. the answer is the gold label (``label``; for open-vocabulary-only classes, ``labels[0]`` among the answer's
   labels);
3. AU-F1 between the AUs the CoT cites and the row's present AUs (``facs.present``) is at least the threshold
   (``eval.metrics.au_set_f1``, the metric the eval and the GRPO reward use). Rows without AUs skip this test.

Rules mode writes a rationale only where the row's own evidence backs the gold label (``support.row_support``);
for a weak or contradicting row, or one with no AUs, it writes :func:`plain_cot` instead: what the face shows and
that "the label comes from the annotation". Its format/label check can't fail by construction, so it is no
acceptance test; the evidence verdicts are what tell its rows apart.

Teacher mode asks the model (hf or openai backend, ``generate_texts``) with ``prompts.render_teacher``, which shows
the gold label and AUs. A rejected candidate is retried up to ``retries`` more times, each time with feedback
saying what was wrong; a row with no accepted candidate is left out of the dataset and counted (rejection
sampling). :class:`CotOutcome` records the attempts and reasons, from which the build computes the acceptance
statistics.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from emoreason.data_builders.support import Support, row_support
from emoreason.errors import EmoreasonError
from emoreason.facs import active_aus, au_key, au_phrase, coerce_aus, present
from emoreason.reasoning.parser import SECTION_NAMES, parse_output

logger = logging.getLogger(__name__)

COT_MODES = ("rules", "teacher")


@dataclass
class CotOutcome:
    """The CoT written for one row (None when every attempt was rejected) and how it got there."""

    text: str | None
    attempts: int
    problems: list[list[str]] = field(default_factory=list)  # per failed attempt: what was wrong
    kind: str = "rationale"  # rationale (rule engine or teacher) | plain (plain_cot: the label is the annotation's)

    @property
    def accepted(self) -> bool:
        return self.text is not None


def gold_answer(row: dict[str, Any]) -> str | None:
    """The label a CoT must conclude with: the canonical ``label``, else the first open-vocabulary label."""
    return row.get("label") or next(iter(row.get("labels") or []), None)


def _au_f1(cited: set[str], reference: set[str]) -> float | None:
    from emoreason.eval.metrics import au_set_f1

    return au_set_f1(sorted(cited), sorted(reference))


def check(
    text: str, row: dict[str, Any], threshold: float, label_set: str = "compound", check_aus: bool = True
) -> list[str]:
    """What is wrong with a candidate CoT for ``row`` (empty list: accepted). Each item starts with its category
    (``format``, ``label`` or ``au_f1``) and says the fix, so it doubles as teacher feedback."""
    parsed = parse_output(text, label_set)  # type: ignore[arg-type]
    problems: list[str] = []
    if not parsed.format_ok:
        missing = [name.replace("_", " ").capitalize() for name in SECTION_NAMES if name not in parsed.sections]
        detail = []
        if parsed.think is None:
            detail.append("no <think>...</think> block")
        if parsed.answer is None:
            detail.append("no <answer>...</answer>")
        if missing and parsed.think is not None:
            detail.append(f"missing section(s): {', '.join(missing)}")
        if parsed.multiple_answers:
            detail.append("more than one <answer>")
        if parsed.truncated:
            detail.append("the text stops mid-tag")
        problems.append(
            "format: "
            + ("; ".join(detail) or "text outside <think>...</think><answer>...</answer>")
            + ". Write exactly <think>Key observations: ... Overall interpretation: ... Conclusion: ...</think>"
            "<answer>LABEL</answer>"
        )
    gold = gold_answer(row)
    if row.get("label"):
        ok = parsed.label == row["label"]
    else:
        ok = gold is not None and gold in parsed.labels
    if gold is not None and not ok:
        said = parsed.answer if parsed.answer is not None else "nothing"
        problems.append(f"label: the answer was {said!r} but the correct label is {gold!r}; conclude with {gold}")
    aus = row.get("aus")
    if check_aus and aus is not None:
        reference = {au_key(n) for n in present(coerce_aus(aus))}
        cited = {au_key(n) for n in parsed.au_numbers}
        f1 = _au_f1(cited, reference)
        if f1 is not None and f1 < threshold:
            extra, absent = sorted(cited - reference), sorted(reference - cited)
            hint = []
            if absent:
                hint.append(f"cite the observed {', '.join(absent)}")
            if extra:
                hint.append(f"do not cite {', '.join(extra)}, which are not present")
            problems.append(f"au_f1: AU-F1 {f1:.2f} is below {threshold:.2f}; " + " and ".join(hint))
    return problems


def _quote(transcript: str, limit: int = 240) -> str:
    text = " ".join(transcript.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def plain_cot(row: dict[str, Any], support: Support) -> str:
    """The CoT for a row whose evidence does not back its gold label: it says what the face shows, says plainly
    that the label comes from the annotation, and builds no rationale."""
    gold = gold_answer(row)
    aus = row.get("aus")
    active = active_aus(coerce_aus(aus)) if aus is not None else []
    if aus is None:
        seen = "No facial action units were measured for this image."
        why = "With no measured movements the face gives no evidence here"
    elif not active:
        seen = "No action unit reaches the presence threshold."
        why = f"The visible movements are weak and do not show the pattern of {gold}"
    else:
        seen = "; ".join(au_phrase(key, value) for key, value in active) + "."
        if support.verdict == "contradicts":
            why = f"The visible movements point at {support.implied}, not at {gold}"
        else:
            why = f"The visible movements are weak and do not show the pattern of {gold}"
    meta = row.get("meta") or {}
    if meta.get("quality_text"):
        seen += f" {str(meta['quality_text']).strip()}"
    if (row.get("transcript") or "").strip():
        seen += f' Speech: "{_quote(row["transcript"])}"'
    if (row.get("prosody") or "").strip():
        seen += f" Prosody: {row['prosody'].strip().rstrip('.')}."
    return (
        f"<think>\nKey observations: {seen}\nOverall interpretation: {why}; the label comes from the annotation, "
        f"not from what the face shows.\nConclusion: The annotated label is {gold}.\n</think>\n<answer>{gold}</answer>"
    )


def _support(row: dict[str, Any]) -> Support:
    """The row's Support as the build recorded it in ``meta`` (computed by ``row_support``), else computed now."""
    meta = row.get("meta") or {}
    if "evidence" in meta:
        return Support(meta.get("support"), meta.get("implied"), meta["evidence"])
    return row_support(row)


def rules_cot(rows: Sequence[dict[str, Any]], label_set: str, threshold: float) -> list[CotOutcome]:
    """One CoT per row (one attempt), decided from the row's evidence support (``support.row_support``):

    - ``supported`` (and ``unchecked`` rows with AUs, e.g. open-vocabulary labels): the rule engine's Exp-CoT for
      the gold label; it cites exactly the AUs at or above the presence threshold, so AU-F1 is 1 by construction;
    - ``weak``, ``contradicts`` and rows with no AUs: :func:`plain_cot` ("the label comes from the annotation").

    Format and label are checked for both."""
    from emoreason.reasoning.rules import explain

    out = []
    for row in rows:
        gold = gold_answer(row)
        support = _support(row)
        plain = support.verdict in ("weak", "contradicts") or row.get("aus") is None
        if plain:
            text = plain_cot(row, support)
        else:
            text = explain(
                coerce_aus(row.get("aus")),
                label=gold,
                transcript=row.get("transcript") or "",
                prosody=row.get("prosody") or "",
                label_set=label_set if row.get("label") else "open",  # type: ignore[arg-type]
            ).text
        problems = check(text, row, threshold, label_set, check_aus=False)
        kind = "plain" if plain else "rationale"
        out.append(CotOutcome(None if problems else text, 1, [problems] if problems else [], kind))
    return out


class TeacherCot:
    """Rejection sampling with a teacher model: up to ``1 + retries`` attempts per row, with feedback."""

    def __init__(self, generator: Any, retries: int = 2, threshold: float = 0.5, label_set: str = "compound"):
        if not hasattr(generator, "generate_texts"):
            raise EmoreasonError("the teacher backend must be hf or openai (a backend with generate_texts)")
        try:
            from emoreason.eval.metrics import au_set_f1  # noqa: F401
            from emoreason.reasoning.prompts import render_teacher  # noqa: F401
        except ImportError as err:
            raise EmoreasonError(f"teacher mode needs the prompt templates and metrics, missing here: {err}") from err
        self.generator = generator
        self.retries = max(0, retries)
        self.threshold = threshold
        self.label_set = label_set

    def _messages(self, row: dict[str, Any], feedback: str) -> tuple[list[dict[str, Any]], list[Any]]:
        from emoreason.data_builders.rows import row_evidence
        from emoreason.reasoning.prompts import render_teacher

        evidence = row_evidence(row, self.label_set, load_images=True)
        aus = coerce_aus(row.get("aus")) if row.get("aus") is not None else None
        return render_teacher(evidence, gold_answer(row), aus, feedback or None), list(evidence.images)

    def __call__(self, rows: Sequence[dict[str, Any]]) -> list[CotOutcome]:
        outcomes = [CotOutcome(None, 0) for _ in rows]
        feedback = ["" for _ in rows]
        pending = list(range(len(rows)))
        for _ in range(1 + self.retries):
            if not pending:
                break
            prompts = [self._messages(rows[i], feedback[i]) for i in pending]
            texts = self.generator.generate_texts([m for m, _ in prompts], [imgs for _, imgs in prompts])
            still = []
            for i, text in zip(pending, texts, strict=True):
                outcomes[i].attempts += 1
                problems = check(text or "", rows[i], self.threshold, self.label_set)
                if problems:
                    outcomes[i].problems.append(problems)
                    feedback[i] = "Your previous answer was rejected: " + " ".join(problems)
                    still.append(i)
                else:
                    outcomes[i].text = text
            pending = still
        return outcomes
