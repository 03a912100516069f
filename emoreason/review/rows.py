"""The rows a review goes through: a dataset folder ``build-data`` or ``synth`` wrote (a saved ``DatasetDict``), or a
feedback folder (``rows.jsonl``: analyses a user made in chat or on the API, appended as they come).

Each row gets one :class:`Entry` in a compact index (what the filters and the order need: label, evidence support,
the labels each evidence channel points at); the full row is read from the memory-mapped Arrow table, or the
feedback log, only when it is shown or exported. Rows stay in the row format of docs/architecture.md.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.io import JsonlLog

FEEDBACK_ROWS = "rows.jsonl"


@dataclass
class Entry:
    """One row in the index: its place, its label and what its evidence channels say."""

    n: int  # position in the review's order of the folder (split order, then row order)
    id: str  # the row's id, or "split:id" in a folder whose splits reuse ids (the toy dataset's do)
    split: str
    label: str | None
    support: float | None  # meta.support: how well the row's own AUs back its label (eval.consistency)
    evidence: str  # meta.evidence: supported, weak, contradicts, unchecked
    channels: dict[str, str] = field(default_factory=dict)  # label each evidence channel points at

    @property
    def disagree(self) -> bool:
        """The evidence channels (the AU rules, the face model) and the label do not all name one label."""
        named = {v for v in self.channels.values() if v}
        return len(named | ({self.label} if self.label else set())) > 1


def channels(row: dict[str, Any]) -> dict[str, str]:
    """The label each evidence channel of a row points at: ``aus`` (the AU rules' reading, ``meta.implied``) and
    ``face_model`` (the expression model's most probable label, ``meta.expression``)."""
    from emoreason.data_builders.support import aus_unread

    meta = row.get("meta") or {}
    out: dict[str, str] = {}
    if meta.get("implied") and not aus_unread(row):  # no AUs read: the rules' reading of none is no evidence
        out["aus"] = str(meta["implied"])
    probs = {k: float(v) for k, v in (meta.get("expression") or {}).items() if v is not None}
    if probs:
        out["face_model"] = max(probs, key=lambda k: probs[k])
    return out


def _entry(n: int, rid: str, row: dict[str, Any], split: str) -> Entry:
    from emoreason.data_builders.support import aus_unread

    meta = row.get("meta") or {}
    unread = aus_unread(row)  # unchecked, also in a build made before such rows were (data_builders.support)
    support = None if unread else meta.get("support")
    return Entry(
        n=n,
        id=rid,
        split=split,
        label=row.get("label"),
        support=float(support) if support is not None else None,
        evidence="unchecked" if unread else str(meta.get("evidence") or "unchecked"),
        channels=channels(row),
    )


def is_reviewable(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file() or (
        folder / FEEDBACK_ROWS
    ).is_file()


class RowSource:
    """The rows of one folder, by id and by position (see the module docstring)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise EmoreasonError(
                f"{self.folder} is not a folder; give a dataset folder written by `emoreason build-data` or "
                "`emoreason synth` (round_N/data)"
            )
        if not is_reviewable(self.folder):
            hint = " (synth writes its datasets to round_N/data)" if (self.folder / "stats.json").is_file() else ""
            raise EmoreasonError(
                f"{self.folder} is not a dataset: it has no dataset_dict.json (nor a feedback rows.jsonl){hint}; "
                "give a folder written by `emoreason build-data` or `emoreason synth`"
            )
        self.feedback = (self.folder / FEEDBACK_ROWS).is_file() and not (self.folder / "dataset_dict.json").is_file()
        self._lock = threading.Lock()
        self.entries: list[Entry] = []
        self.by_id: dict[str, Entry] = {}
        self._tables: dict[str, Any] = {}
        self._where: dict[str, tuple[str, int]] = {}  # id -> (split, index in the split)
        self._feedback_rows: dict[str, dict[str, Any]] = {}
        self._log: JsonlLog | None = None
        if self.feedback:
            self._log = JsonlLog(self.folder / FEEDBACK_ROWS)
            for row in self._log.records():
                self._index(row, str((row.get("meta") or {}).get("split") or "feedback"), None)
        else:
            self._load_arrow()
        if not self.entries and not self.feedback:
            raise EmoreasonError(f"{self.folder} holds no rows; there is nothing to review")

    def _load_arrow(self) -> None:
        from datasets import Dataset, DatasetDict, load_from_disk

        try:
            data = load_from_disk(str(self.folder))
        except (FileNotFoundError, ValueError, OSError) as err:
            raise EmoreasonError(
                f"{self.folder}: cannot read it as a dataset ({err}); rebuild it with `emoreason build-data`"
            ) from err
        splits = {"train": data} if isinstance(data, Dataset) else dict(data) if isinstance(data, DatasetDict) else {}
        ids = {split: table["id"] if "id" in table.column_names else [] for split, table in splits.items()}
        qualify = sum(len(set(v)) for v in ids.values()) > len(set().union(*map(set, ids.values())))
        for split, table in splits.items():
            missing = [c for c in ("id", "cot", "label") if c not in table.column_names]
            if missing:
                raise EmoreasonError(
                    f"{self.folder} split {split!r} has no {', '.join(missing)} column: it is not a build-data "
                    "dataset (rows need id, images, aus, label, cot, meta)"
                )
            self._tables[split] = table
            light = table.select_columns([c for c in ("id", "label", "aus", "meta") if c in table.column_names])
            for i, row in enumerate(light):
                self._index(row, split, i, f"{split}:{row['id']}" if qualify else None)

    def _index(self, row: dict[str, Any], split: str, position: int | None, key: str | None = None) -> Entry:
        rid = key or str(row["id"])
        if rid in self.by_id:
            raise EmoreasonError(
                f"{self.folder}: the row id {row['id']!r} occurs twice in split {split!r}; ids must be unique"
            )
        entry = _entry(len(self.entries), rid, row, split)
        self.entries.append(entry)
        self.by_id[rid] = entry
        if position is None:
            self._feedback_rows[rid] = row
        else:
            self._where[rid] = (split, position)
        return entry

    def row(self, rid: str) -> dict[str, Any]:
        """The full row ``rid`` (KeyError for an unknown id)."""
        if rid in self._feedback_rows:
            return dict(self._feedback_rows[rid])
        split, position = self._where[rid]
        return dict(self._tables[split][position])

    def features(self) -> dict[str, Any]:
        """Each split's ``datasets.Features`` (none for a feedback folder, whose rows are JSON)."""
        return {split: table.features for split, table in self._tables.items()}

    @property
    def splits(self) -> list[str]:
        return list(dict.fromkeys(e.split for e in self.entries))

    def add(self, row: dict[str, Any]) -> Entry:
        """Append a row to a feedback folder (chat and API analyses); its id must be new."""
        if self._log is None:
            raise EmoreasonError(f"{self.folder} is a built dataset; rows are added only to a feedback folder")
        with self._lock:
            if str(row["id"]) in self.by_id:
                return self.by_id[str(row["id"])]
            self._log.append(row)
            return self._index(row, str((row.get("meta") or {}).get("split") or "feedback"), None)


def new_feedback_folder(folder: str | Path) -> Path:
    """Make ``folder`` a feedback folder (an empty ``rows.jsonl``) unless it is one already."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FEEDBACK_ROWS).touch(exist_ok=True)
    return folder


def media_missing(row: dict[str, Any]) -> list[str]:
    """The row's image paths that are gone (moved or deleted since the build)."""
    return [p for p in row.get("images") or [] if isinstance(p, str) and not Path(p).is_file()]


def padded_box(box: Any, width: int, height: int) -> tuple[float, float, float, float]:
    """A face box (x, y, w, h: ``schema.Face.box``, ``meta.chosen_box``) with a quarter margin, as PIL's crop box."""
    x, y, w, h = (float(v) for v in box)
    pad = 0.25 * max(w, h)
    return max(0.0, x - pad), max(0.0, y - pad), min(float(width), x + w + pad), min(float(height), y + h + pad)
