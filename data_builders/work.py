"""The work files of one build (``--out/.work``) and the save of the finished ``datasets.DatasetDict``.

Each work file is an append-only :class:`emoreason.io.JsonlLog`, so a build that is stopped resumes: rows per split
(``rows-<split>.jsonl``), teacher rejections (``rejected.jsonl``) and skipped items (``skipped.jsonl``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from emoreason.data_builders.cot import CotOutcome, gold_answer
from emoreason.io import JsonlLog


class WorkFiles:
    """The append-only JSONL work files of one build under ``--out/.work`` (one :class:`emoreason.io.JsonlLog` each:
    rows per split, teacher rejections, skipped items)."""

    def __init__(self, work: Path):
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.logs: dict[str, JsonlLog] = {}
        self.done: set[str] = set()
        self.splits: list[str] = []
        for path in sorted(work.glob("rows-*.jsonl")):
            self.splits.append(path.stem[len("rows-") :])
            self.done |= self.log(path.name).done
        self.done |= self.log("rejected.jsonl").done
        self.skipped = {r["id"]: r for r in self.read("skipped.jsonl")}
        self.resumed = len(self.done)

    def log(self, name: str) -> JsonlLog:
        """The log of one work file (opened, and repaired after an interruption, on first use)."""
        if name not in self.logs:
            self.logs[name] = JsonlLog(self.work / name)
        return self.logs[name]

    def read(self, name: str) -> list[dict[str, Any]]:
        """Records of one work file."""
        return list(self.log(name).records())

    def sync(self) -> None:
        """fsync every work file: called once per batch (a record is flushed as it is written, so a killed process
        loses nothing; the fsync is for a machine crash, and one a row would cost more than some rows take)."""
        for log in self.logs.values():
            log.sync()

    def close(self) -> None:
        for log in self.logs.values():
            log.close()

    def row(self, row: dict[str, Any]) -> None:
        split = row["meta"]["split"]
        if split not in self.splits:
            self.splits.append(split)
        self.log(f"rows-{split}.jsonl").append(row, sync=False)
        self.done.add(row["id"])

    def reject(self, row: dict[str, Any], outcome: CotOutcome) -> None:
        record = {"id": row["id"], "split": row["meta"]["split"], "gold": gold_answer(row),
                  "attempts": outcome.attempts, "problems": outcome.problems}  # fmt: skip
        self.log("rejected.jsonl").append(record, sync=False)
        self.done.add(row["id"])

    def skip(self, sample_id: str, split: str, reason: str, detail: str = "", label: str | None = None) -> None:
        if sample_id in self.skipped:
            return
        record = {"id": sample_id, "split": split, "reason": reason, "detail": detail, "label": label}
        self.skipped[sample_id] = record
        self.log("skipped.jsonl").append(record, sync=False)


def save_dataset(out: Path, splits: dict[str, list[dict[str, Any]]]) -> None:
    """Save the DatasetDict into ``out`` via a temporary folder of its own in ``out/.work`` (so a crash never leaves
    half a dataset, and two saves never share one), then move its entries into ``out``."""
    from datasets import Dataset, DatasetDict
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    work = out / ".work"
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "dataset.tmp", ignore_errors=True)  # the fixed name older versions used
    tmp = Path(tempfile.mkdtemp(dir=work, prefix="dataset-", suffix=".tmp"))
    quiet = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        DatasetDict({name: Dataset.from_list(rows) for name, rows in splits.items()}).save_to_disk(str(tmp))
        for entry in tmp.iterdir():
            target = out / entry.name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.replace(entry, target)
    finally:
        if not quiet:
            enable_progress_bars()
        shutil.rmtree(tmp, ignore_errors=True)
