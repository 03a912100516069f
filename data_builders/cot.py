"""CoT synthesis for dataset rows: the rule engine (Exp-CoT) or a teacher model with rejection sampling.

Both modes write the target ``<think>...</think><answer>LABEL</answer>`` for a row's GOLD label, and both run every
candidate through the same acceptance check (:func:`check`), built on the one parser:

1. ``parse_output(text).format_ok`` (the three sections, one ``<answer>``, nothing outside);
2. the answer is the gold label (``label``; for open-vocabulary-only classes, ``labels[0]`` among the answer's
   labels);
3. AU-F1 between the AUs the CoT cites and the row's present AUs (``facs.present``) is at least the threshold
   (``eval.metrics.au_set_f1``, the metric the eval and the GRPO reward use). Rows without AUs skip this test.

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

from emoreason.errors import EmoreasonError
from emoreason.facs import au_key, coerce_aus, present
from emoreason.reasoning.parser import SECTION_NAMES, parse_output

logger = logging.getLogger(__name__)

COT_MODES = ("rules", "teacher")


@dataclass
class CotOutcome:
    """The CoT written for one row (None when every attempt was rejected) and how it got there."""

    text: str | None
    attempts: int
    problems: list[list[str]] = field(default_factory=list)  # per failed attempt: what was wrong

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


def rules_cot(rows: Sequence[dict[str, Any]], label_set: str, threshold: float) -> list[CotOutcome]:
    """Exp-CoT from the rule engine for each row's gold label and AUs (one attempt). Format and label are checked;
    AU-F1 is 1 by construction (the engine cites exactly the AUs at or above the presence threshold)."""
    from emoreason.reasoning.rules import explain

    out = []
    for row in rows:
        gold = gold_answer(row)
        result = explain(
            coerce_aus(row.get("aus")),
            label=gold,
            transcript=row.get("transcript") or "",
            prosody=row.get("prosody") or "",
            label_set=label_set if row.get("label") else "open",  # type: ignore[arg-type]
        )
        problems = check(result.text, row, threshold, label_set, check_aus=False)
        out.append(CotOutcome(None if problems else result.text, 1, [problems] if problems else []))
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
        from emoreason.data_builders.views import row_evidence
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
