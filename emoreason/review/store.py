"""Review decisions over a folder of rows, saved as they are made, one append-only log per reviewer.

Layout: ``<folder>/.review/<reviewer>.jsonl`` (an :class:`emoreason.io.JsonlLog` each: flushed and fsynced per
decision, a torn last line cut off on open), so two reviewers never write one file and a restart loses nothing. A
reviewer's latest decision on a row replaces their earlier ones (going back and changing one is a new record);
every count is per row, so no row is counted twice. Each decision carries the revision it was made from: a row
changed in another tab since (another decision by the same reviewer) is refused with a 409-style
:class:`Conflict` instead of being overwritten. Appends take an flock on the reviewer's log and first read what
another process appended, so two servers on one folder stay consistent too.

A decision is ``accept``, ``reject`` or ``correct`` (a new label, a new CoT, or both); the checks (the CoT not
empty, its answer and the label in the label set, one label normaliser: ``labels.normalize_label``) are in
:func:`check_correction`.
"""

from __future__ import annotations

import fcntl
import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.io import JsonlLog
from emoreason.labels import labels_for, normalize_label
from emoreason.review.rows import RowSource

ACTIONS = ("accept", "reject", "correct")
REVIEW_DIR = ".review"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class Conflict(EmoreasonError):
    """The row was decided again (another tab) since the revision a decision was made from."""


class Full(EmoreasonError):
    """A cap on what one review may hold (reviewers, decisions per reviewer) is reached."""


@dataclass
class Decision:
    row: str
    action: str
    reviewer: str
    at: str
    rev: int  # this reviewer's revision of the row: 1 for the first decision, +1 for each change
    label: str | None = None  # the row's label after the decision (None when rejected)
    cot: str | None = None  # a corrected CoT (None: the row's own)
    name: str = ""  # the reviewer's display name, when they gave one
    via: str = "review"  # review page, chat, api, cli

    def record(self, seq: int) -> dict[str, Any]:
        return {"id": f"{self.reviewer}:{seq}", **self.__dict__}


def reviewer_file(reviewer: str) -> str:
    """The log name of a reviewer id (owner ids are already safe; anything else is made so)."""
    safe = _SAFE.sub("_", reviewer)[:80] or "reviewer"
    return f"{safe}.jsonl"


def check_correction(
    row: dict[str, Any], label: str | None, cot: str | None, label_set: str
) -> tuple[str, str | None]:
    """The canonical label and CoT of a correction, or an EmoreasonError that says what to fix.

    A label alone gets a CoT written for it (the rules engine's, as build-data writes: ``data_builders.cot``); a CoT
    alone gives its answer as the label; both must agree.
    """
    from emoreason.reasoning.parser import parse_output

    allowed = labels_for(label_set)  # type: ignore[arg-type]
    canonical = None
    if label is not None:
        canonical = normalize_label(label, label_set)  # type: ignore[arg-type]
        if canonical is None or canonical not in allowed:
            raise EmoreasonError(
                f"{label!r} is not a label in the {label_set} label set; choose one of: {', '.join(allowed)}"
            )
    if cot is not None:
        if not cot.strip():
            raise EmoreasonError("the CoT is empty; write the reasoning (<think>...</think><answer>LABEL</answer>), "
                                 "or reject the row instead")
        parsed = parse_output(cot, label_set)  # type: ignore[arg-type]
        if parsed.answer is None:
            raise EmoreasonError("the CoT has no <answer>...</answer>; end it with <answer>LABEL</answer>")
        if parsed.label is None or parsed.label not in allowed:
            raise EmoreasonError(
                f"the CoT answers {parsed.answer!r}, which is not a label in the {label_set} label set; "
                f"choose one of: {', '.join(allowed)}"
            )
        if canonical is not None and parsed.label != canonical:
            raise EmoreasonError(
                f"the CoT answers {parsed.label} but the label is {canonical}; make them agree"
            )
        return parsed.label, cot.strip()
    if canonical is None:
        raise EmoreasonError("a correction needs a label or a CoT (or both)")
    return canonical, _cot_for(row, canonical, label_set)


def relabelled(row: dict[str, Any], label: str) -> dict[str, Any]:
    """``row`` under another label, its evidence support (``meta.support``, ``evidence``, ``implied``) redone."""
    from emoreason.data_builders.support import row_support

    fixed = {**row, "label": label, "labels": [label], "meta": dict(row.get("meta") or {})}
    support = row_support(fixed)
    fixed["meta"].update(support=support.support, evidence=support.verdict, implied=support.implied)
    return fixed


def _cot_for(row: dict[str, Any], label: str, label_set: str) -> str:
    """A CoT for ``row`` under a corrected label, written the way build-data writes one (rules mode)."""
    from emoreason.data_builders.cot import rules_cot

    (outcome,) = rules_cot([relabelled(row, label)], label_set, threshold=0.0)
    if outcome.text is None:
        raise EmoreasonError(f"cannot write a CoT for {label}: {outcome.problems}; write the CoT yourself")
    return outcome.text


class _ReviewerLog:
    """One reviewer's log and their latest decision per row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.latest: dict[str, dict[str, Any]] = {}
        self.log = JsonlLog(path)
        self.seq = 0
        self._offset = 0
        self._read_new()

    def _read_new(self) -> None:
        """Records appended since the last read (by this process or another)."""
        if not self.path.is_file():
            return
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a line still being written by another process waits for the next read
        for line in data[:end].splitlines():
            if line.strip():
                record = json.loads(line)
                self.latest[record["row"]] = record
                self.seq += 1
        self._offset += end

    def append(self, record: dict[str, Any]) -> None:
        self.log.append(record)
        self._read_new()


class ReviewStore:
    """Decisions on the rows of one folder, by reviewer (see the module docstring)."""

    def __init__(
        self,
        folder: str | Path,
        label_set: str = "compound",
        max_reviewers: int | None = None,
        max_decisions: int | None = None,
    ) -> None:
        self.rows = RowSource(folder)
        self.folder = self.rows.folder
        self.label_set = label_set
        self.max_reviewers = max_reviewers  # logs a review may have (a server bounds what clients make it hold)
        self.max_decisions = max_decisions  # decisions one reviewer may log (changes included)
        self.dir = self.folder / REVIEW_DIR
        try:
            self.dir.mkdir(exist_ok=True)
        except OSError as err:
            raise EmoreasonError(
                f"cannot write the review beside the dataset ({self.dir}: {err.strerror}); copy the dataset to a "
                "folder you can write"
            ) from None
        self._lock = threading.Lock()
        self._logs: dict[str, _ReviewerLog] = {}
        for path in sorted(self.dir.glob("*.jsonl")):
            self._logs[path.stem] = _ReviewerLog(path)

    # ---------------------------------------------------------------------------------------------- reading
    def reviewers(self) -> list[str]:
        return [k for k, log in self._logs.items() if log.latest]

    def refresh(self) -> None:
        """Read what other processes appended (new reviewers' logs too)."""
        with self._lock:
            for path in sorted(self.dir.glob("*.jsonl")):
                if path.stem not in self._logs:
                    self._logs[path.stem] = _ReviewerLog(path)
                else:
                    self._logs[path.stem]._read_new()

    def decisions(self, reviewer: str | None = None) -> dict[str, dict[str, dict[str, Any]]]:
        """{reviewer: {row id: latest decision}} (one reviewer's alone when named)."""
        logs = self._logs if reviewer is None else {k: v for k, v in self._logs.items() if k == _key(reviewer)}
        return {k: dict(log.latest) for k, log in logs.items()}

    def decision(self, reviewer: str, rid: str) -> dict[str, Any] | None:
        log = self._logs.get(_key(reviewer))
        return log.latest.get(rid) if log else None

    # ---------------------------------------------------------------------------------------------- writing
    def decide(
        self,
        reviewer: str,
        rid: str,
        action: str,
        label: str | None = None,
        cot: str | None = None,
        base_rev: int | None = None,
        name: str = "",
        via: str = "review",
    ) -> dict[str, Any]:
        """Record ``reviewer``'s decision on row ``rid`` and return it (as saved).

        ``base_rev`` is the revision the reviewer saw (0: not decided yet); a different current one raises
        :class:`Conflict`. None skips the check (API clients that decide once).
        """
        if action not in ACTIONS:
            raise EmoreasonError(f"unknown review action {action!r}; choose one of: {', '.join(ACTIONS)}")
        if rid not in self.rows.by_id:
            raise KeyError(rid)
        row = self.rows.row(rid)
        if action == "correct":
            label, cot = check_correction(row, label, cot, self.label_set)
        elif action == "accept":
            if label is not None or cot is not None:
                raise EmoreasonError("accept takes no label or CoT; send action 'correct' to change them")
            label = row.get("label")
        else:
            label, cot = None, None
        with self._lock:
            log = self._log_for(reviewer)
            with open(log.path.with_suffix(".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                log._read_new()
                if self.max_decisions is not None and log.seq >= self.max_decisions:
                    raise Full(f"you have logged {log.seq} decisions on this dataset, the most one reviewer may; "
                               "export the review (emoreason review export) and start another")
                current = log.latest.get(rid)
                rev = int(current["rev"]) if current else 0
                if base_rev is not None and base_rev != rev:
                    raise Conflict(_conflict_message(current))
                decision = Decision(rid, action, reviewer, _now(), rev + 1, label, cot, name[:80], via)
                record = decision.record(log.seq + 1)
                log.append(record)
        return record

    def _log_for(self, reviewer: str) -> _ReviewerLog:
        key = _key(reviewer)
        if key not in self._logs:
            if self.max_reviewers is not None and len(self._logs) >= self.max_reviewers:
                raise Full(
                    f"this review already has {len(self._logs)} reviewers (at most {self.max_reviewers}, "
                    "--review-reviewers); review with an existing key"
                )
            self._logs[key] = _ReviewerLog(self.dir / reviewer_file(reviewer))
        return self._logs[key]


def _key(reviewer: str) -> str:
    return reviewer_file(reviewer)[: -len(".jsonl")]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _conflict_message(current: dict[str, Any] | None) -> str:
    if current is None:
        return "this row's decision was withdrawn elsewhere; reload the row"
    what = current["action"] + (f" as {current['label']}" if current["action"] == "correct" else "")
    return (
        f"this row was decided in another tab or window ({what} at {current['at']}); reload it to see that "
        "decision, then change it if you mean to"
    )
