"""The work files of one build (``--out/.work``) and the save of the finished ``datasets.DatasetDict``.

Each work file is an append-only :class:`emoreason.io.JsonlLog`, so a build that is stopped resumes: rows per split
(``rows-<split>.jsonl``), teacher rejections (``rejected.jsonl``) and skipped items (``skipped.jsonl``).

The one writer of row datasets (build-data here, ``emoreason review export`` for its outputs): :func:`rows_dataset`
gives a column that is empty in every row the type the source dataset had, and :func:`card_header` is the card's
YAML header, naming each split's Arrow files and declaring the features and split sizes as they were saved, so
``datasets.load_dataset(folder)`` reads exactly what ``datasets.load_from_disk(folder)`` reads.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def quiet_progress() -> Iterator[None]:
    """``datasets``' progress bars off for a save (and back on after, if they were on)."""
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    quiet = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        yield
    finally:
        if not quiet:
            enable_progress_bars()


def _fill_nulls(feature: Any, like: Any) -> Any:
    """``feature`` with every null-typed part (a column or struct field no row filled) typed as in ``like``."""
    from datasets import List, Value

    if like is None:
        return feature
    if isinstance(feature, Value) and feature.dtype == "null":
        return like
    if isinstance(feature, dict) and isinstance(like, dict):
        return type(feature)({k: _fill_nulls(v, like.get(k)) for k, v in feature.items()})
    if isinstance(feature, List) and isinstance(like, List):
        return List(_fill_nulls(feature.feature, like.feature), length=feature.length)
    return feature


def rows_dataset(rows: list[dict[str, Any]], like: Any = None) -> Any:
    """Rows as one ``datasets.Dataset`` (columns inferred from every row); with ``like`` (the features of the dataset
    the rows came from) a column or AU that is empty in all of ``rows`` keeps the type it has there, not ``null``."""
    from datasets import Dataset, Features

    data = Dataset.from_list(rows)
    if like is not None:
        typed = Features(_fill_nulls(data.features, like))
        if typed != data.features:
            data = data.cast(typed)
    return data


def card_header(folder: Path, tags: list[str]) -> str:
    """The YAML header of the card of the DatasetDict saved in ``folder`` (see the module docstring).

    ``load_dataset`` keys its cache by the folder's name and this header: declaring the features and sizes keeps an
    earlier dataset of the same name (another build's or export's ``reviewed``) from being returned in its place.
    """
    import yaml
    from datasets import load_from_disk

    header: dict[str, Any] = {}
    if (folder / "dataset_dict.json").is_file():
        data = load_from_disk(str(folder))
        splits = list(data)
        header["configs"] = [{"config_name": "default", "data_files": [
            {"split": s, "path": f"{s}/data-*.arrow"} for s in splits]}]  # fmt: skip
        info = data[splits[0]].info.copy()
        info.config_name = "default"
        info.splits = None
        yaml_info = info._to_yaml_dict()
        yaml_info["splits"] = [{"name": s, "num_bytes": int(data[s].data.nbytes), "num_examples": data[s].num_rows}
                               for s in splits]  # fmt: skip
        yaml_info["dataset_size"] = sum(x["num_bytes"] for x in yaml_info["splits"])
        header["dataset_info"] = yaml_info
    header["tags"] = tags
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=1000) + "---\n"


def save_dataset(out: Path, splits: dict[str, list[dict[str, Any]]]) -> None:
    """Save the DatasetDict into ``out`` via a temporary folder of its own in ``out/.work`` (so a crash never leaves
    half a dataset, and two saves never share one), then move its entries into ``out``."""
    from datasets import DatasetDict

    work = out / ".work"
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "dataset.tmp", ignore_errors=True)  # the fixed name older versions used
    tmp = Path(tempfile.mkdtemp(dir=work, prefix="dataset-", suffix=".tmp"))
    try:
        with quiet_progress():
            DatasetDict({name: rows_dataset(rows) for name, rows in splits.items()}).save_to_disk(str(tmp))
        for entry in tmp.iterdir():
            target = out / entry.name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.replace(entry, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
