"""The build-data pipeline: a source corpus -> rows (DESIGN.md format) -> CoTs -> a saved ``datasets.DatasetDict``.

Reads top to bottom: check the options, load the work files of an earlier run, walk the source's items in batches
(media -> image checks -> AUs -> CoT), append finished rows to ``--out/.work/rows-<split>.jsonl``, then assemble
the DatasetDict with the source's split names, save it into ``--out`` and write the dataset card.

Resumable: every finished row (kept, rejected by the teacher, or skipped) is one JSON line, written as soon as its
batch is done; a restarted build skips those ids. A line cut by an interruption is dropped and redone.

Row columns: ``id``, ``images`` (absolute paths, strings), ``video`` (the clip path, "" for images), ``frames``
(frame indices of ``images`` in ``video``), ``aus`` ({"AU12": 3.0}; Arrow stores it as a struct over the AU keys of
the split, with nulls where a row lacks a key: read it with ``facs.coerce_aus``; None when there are no AUs),
``transcript``, ``prosody``, ``label`` (canonical or None), ``labels``, ``cot``, ``meta`` (source, split, subject,
demographics and corpus extras, ``au_source``, ``label_source``, ``cot_mode``, ``cot_attempts``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emoreason.data_builders import attach as au_attach
from emoreason.data_builders.base import Context, Sample, Skip, SkipSample, Source
from emoreason.data_builders.cot import COT_MODES, CotOutcome, TeacherCot, gold_answer, rules_cot
from emoreason.data_builders.registry import get_source
from emoreason.errors import EmoreasonError

logger = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]  # (rows finished so far, total or None)
_SPLIT = re.compile(r"^\w+(\.\w+)*$")


@dataclass
class BuildConfig:
    """Everything ``emoreason build-data`` takes."""

    source: str
    root: Path
    out: Path
    cot: str = "rules"
    backend: str | None = None
    model: str | None = None
    base_url: str | None = None
    adapter: str | None = None
    limit: int | None = None
    workers: int = 1
    openface: Path | None = None
    au_source: str = "auto"
    retries: int = 2
    au_f1_threshold: float = 0.5
    frames_per_clip: int = 4
    frame_stride: int = 50
    fold: int = 1
    batch_size: int = 8
    generator: Any = field(default=None, repr=False)  # a ready teacher with generate_texts (else built)


@dataclass
class BuildSummary:
    """What a build produced: rows per split, skipped rows by reason, teacher rejections, acceptance statistics."""

    out: str
    source: str
    rows: dict[str, int]
    skipped: dict[str, int]
    skipped_examples: dict[str, list[str]]
    rejected: int
    acceptance: dict[str, Any]
    au_coverage: float
    resumed: int = 0

    def lines(self) -> list[str]:
        """The end-of-run summary, one line each."""
        kept = sum(self.rows.values())
        out = [f"saved {kept} rows to {self.out}" if kept else f"no row was kept: no dataset saved in {self.out}"]
        out += [f"  {split}: {n} rows" for split, n in self.rows.items()]
        if self.resumed:
            out.append(f"  ({self.resumed} rows were finished by an earlier run and reused)")
        total_skipped = sum(self.skipped.values())
        out.append(f"skipped {total_skipped} rows" + (":" if total_skipped else ""))
        for reason, n in sorted(self.skipped.items(), key=lambda kv: -kv[1]):
            examples = ", ".join(self.skipped_examples.get(reason, [])[:3])
            out.append(f"  {n} {reason}" + (f" (e.g. {examples})" if examples else ""))
        a = self.acceptance
        out.append(
            f"CoT ({a['mode']}): {a['accepted']}/{a['rows']} accepted ({100 * a['acceptance_rate']:.1f}%), "
            f"{a['generations']} generations, {a['rejected']} rows rejected"
        )
        if a["rejection_reasons"]:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(a["rejection_reasons"].items()))
            out.append(f"  failed attempts by reason: {reasons}")
        if a["accepted_at_attempt"]:
            at = ", ".join(f"attempt {k}: {v}" for k, v in sorted(a["accepted_at_attempt"].items()))
            out.append(f"  accepted at {at}")
        out.append(f"AU coverage: {100 * self.au_coverage:.1f}% of rows have AUs")
        return out


class _WorkFiles:
    """The append-only JSONL files of one build under ``--out/.work``."""

    def __init__(self, work: Path):
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.done: set[str] = set()
        self.skipped: dict[str, dict[str, Any]] = {}
        self.splits: list[str] = []
        for path in sorted(work.glob("rows-*.jsonl")):
            self.splits.append(path.stem[len("rows-") :])
            self.done.update(r["id"] for r in self.read(path))
        self.done.update(r["id"] for r in self.read(work / "rejected.jsonl"))
        self.skipped = {r["id"]: r for r in self.read(work / "skipped.jsonl")}
        self.resumed = len(self.done)

    @staticmethod
    def read(path: Path) -> list[dict[str, Any]]:
        """Records of one JSONL work file; a line cut by an interruption is dropped (and the file rewritten)."""
        if not path.is_file():
            return []
        good, records = [], []
        lines = path.read_text(encoding="utf-8").splitlines()
        for line in lines:
            try:
                records.append(json.loads(line))
                good.append(line)
            except ValueError:
                continue
        if len(good) != len(lines):
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(f"{line}\n" for line in good), encoding="utf-8")
            tmp.replace(path)
        return records

    def _append(self, name: str, record: dict[str, Any]) -> None:
        with (self.work / name).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def row(self, row: dict[str, Any]) -> None:
        split = row["meta"]["split"]
        if split not in self.splits:
            self.splits.append(split)
        self._append(f"rows-{split}.jsonl", row)
        self.done.add(row["id"])

    def reject(self, row: dict[str, Any], outcome: CotOutcome) -> None:
        record = {"id": row["id"], "split": row["meta"]["split"], "gold": gold_answer(row),
                  "attempts": outcome.attempts, "problems": outcome.problems}  # fmt: skip
        self._append("rejected.jsonl", record)
        self.done.add(row["id"])

    def skip(self, sample_id: str, split: str, reason: str, detail: str = "") -> None:
        if sample_id in self.skipped:
            return
        record = {"id": sample_id, "split": split, "reason": reason, "detail": detail}
        self.skipped[sample_id] = record
        self._append("skipped.jsonl", record)


def _check_options(config: BuildConfig, source: Source) -> None:
    root = Path(config.root)
    if not root.exists():
        raise EmoreasonError(f"--root {root} does not exist")
    if source.root_is_file and not root.is_file():
        raise EmoreasonError(f"source {source.name} takes --root FILE (a .csv or .jsonl manifest), not a folder")
    if config.cot not in COT_MODES:
        raise EmoreasonError(f"unknown --cot {config.cot!r}; choose one of: {', '.join(COT_MODES)}")
    if config.cot == "teacher" and config.generator is None and config.backend in (None, "rules"):
        raise EmoreasonError("--cot teacher needs a model: --backend hf|openai --model NAME (openai: --base-url)")
    if not 0.0 <= config.au_f1_threshold <= 1.0:
        raise EmoreasonError("--au-f1-threshold must be between 0 and 1")
    if config.limit is not None and config.limit < 1:
        raise EmoreasonError("--limit must be at least 1")


def _check_same_run(work: Path, config: BuildConfig) -> None:
    """Refuse to resume into an --out that holds a different build (other source or CoT mode)."""
    keys = {"source": config.source, "cot": config.cot, "au_source": config.au_source, "fold": config.fold}
    path = work / "run.json"
    if path.is_file():
        before = json.loads(path.read_text())
        changed = [k for k in keys if before.get(k) != keys[k]]
        if changed:
            raise EmoreasonError(
                f"{config.out} holds a build with different {', '.join(changed)} "
                f"({', '.join(f'{k}={before.get(k)}' for k in changed)}); use another --out or delete it"
            )
    else:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(keys))
        tmp.replace(path)


def _teacher(config: BuildConfig, label_set: str) -> TeacherCot:
    generator = config.generator
    if generator is None:
        from emoreason.reasoning.base import build_reasoner

        try:
            generator = build_reasoner(
                config.backend or "hf", model=config.model, adapter=config.adapter, base_url=config.base_url,
                label_set=label_set,
            )  # fmt: skip
        except ImportError as err:
            raise EmoreasonError(f"the {config.backend} backend is not available in this install ({err})") from err
    return TeacherCot(generator, config.retries, config.au_f1_threshold, label_set)


def _verified(paths: list[str]) -> list[str]:
    from PIL import Image, UnidentifiedImageError

    out = []
    for path in paths:
        if not Path(path).is_file():
            raise SkipSample("missing file", path)
        try:
            with Image.open(path) as image:
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
            raise SkipSample("corrupt image", f"{path}: {err}") from err
        out.append(str(Path(path).resolve()))
    if not out:
        raise SkipSample("missing file", "no image")
    return out


def _prepare(sample: Sample, source: Source, out: Path, au_source: str, openface: Path | None) -> dict[str, Any]:
    """One Sample -> a row dict with checked image paths and AUs (raises SkipSample)."""
    images, frames = sample.make_images(out) if sample.make_images else (sample.images, sample.frames)
    row: dict[str, Any] = {
        "id": sample.id,
        "images": _verified(images),
        "video": sample.video,
        "frames": list(frames),
        "aus": None,
        "transcript": sample.transcript,
        "prosody": sample.prosody,
        "label": sample.label,
        "labels": list(sample.labels),
        "cot": "",
        "meta": {"source": source.name, "split": sample.split, "label_source": "dataset",
                 "explanation": sample.explanation, **sample.meta},
    }  # fmt: skip
    used = au_attach.attach(row, au_source, sample.aus, openface)
    row["meta"]["au_source"] = used
    return row


def _samples(source: Source, ctx: Context, limit: int | None) -> Iterator[Sample | Skip]:
    count = 0
    for item in source.iter_samples(ctx):
        if isinstance(item, Sample):
            if limit is not None and count >= limit:
                return
            count += 1
        yield item


def build(config: BuildConfig, progress: Progress | None = None) -> BuildSummary:
    """Run one build (or resume it) and return its summary. Layout errors raise EmoreasonError."""
    source = get_source(config.source)
    _check_options(config, source)
    out = Path(config.out)
    work_dir = out / ".work"
    work_dir.mkdir(parents=True, exist_ok=True)
    _check_same_run(work_dir, config)
    work = _WorkFiles(work_dir)
    au_source = au_attach.resolve(config.au_source, source.has_aus, config.openface)
    teacher = _teacher(config, source.label_set) if config.cot == "teacher" else None
    ctx = Context(Path(config.root), config.frames_per_clip, config.frame_stride, {"fold": config.fold})

    total = None
    if progress is not None:
        total = sum(1 for item in _samples(source, ctx, config.limit) if isinstance(item, Sample))
        progress(0, total)

    def process(batch: list[Sample]) -> None:
        def prep(sample: Sample) -> dict[str, Any] | SkipSample:
            try:
                return _prepare(sample, source, out, au_source, config.openface)
            except SkipSample as skip:
                return skip

        threads = 1 if au_source in ("blendshapes", "auto") else max(1, config.workers)  # one MediaPipe graph
        with ThreadPoolExecutor(threads) as pool:
            prepared = list(pool.map(prep, batch))
        rows = []
        for sample, result in zip(batch, prepared, strict=True):
            if isinstance(result, SkipSample):
                work.skip(sample.id, sample.split, result.reason, result.detail)
            else:
                rows.append(result)
        if rows:
            outcomes = teacher(rows) if teacher else rules_cot(rows, source.label_set, config.au_f1_threshold)
            for row, outcome in zip(rows, outcomes, strict=True):
                row["meta"].update(
                    {
                        "cot_mode": config.cot,
                        "cot_attempts": outcome.attempts,
                        "cot_rejections": [p.split(":", 1)[0] for ps in outcome.problems for p in ps],
                    }
                )
                if outcome.accepted:
                    row["cot"] = outcome.text
                    work.row(row)
                else:
                    work.reject(row, outcome)

    finished, seen, batch, order = 0, set(), [], []
    for item in _samples(source, ctx, config.limit):
        if isinstance(item, Skip):
            work.skip(item.id, item.split, item.reason, item.detail)
            continue
        if not _SPLIT.match(item.split):
            raise EmoreasonError(f"{item.id}: split name {item.split!r} must be letters, digits and underscores")
        if item.id in seen:
            work.skip(item.id + f"#dup{len(seen)}", item.split, "duplicate id", item.id)
            continue
        seen.add(item.id)
        if item.split not in order:
            order.append(item.split)
        if item.id in work.done or item.id in work.skipped:
            finished += 1
            continue
        batch.append(item)
        if len(batch) >= config.batch_size:
            process(batch)
            finished += len(batch)
            batch = []
            if progress:
                progress(finished, total)
    if batch:
        process(batch)
        finished += len(batch)
    if progress:
        progress(finished, total)
    return _finish(out, work, source, config, order)


def _acceptance(rows: list[dict[str, Any]], rejected: list[dict[str, Any]], config: BuildConfig) -> dict[str, Any]:
    at, reasons, per_label = Counter(), Counter(), {}
    generations = 0
    for row in rows:
        meta = row["meta"]
        at[meta.get("cot_attempts", 1)] += 1
        generations += meta.get("cot_attempts", 1)
        reasons.update(meta.get("cot_rejections") or [])
        stats = per_label.setdefault(str(gold_answer(row)), {"rows": 0, "accepted": 0})
        stats["rows"] += 1
        stats["accepted"] += 1
    for record in rejected:
        generations += record["attempts"]
        reasons.update(p.split(":", 1)[0] for ps in record["problems"] for p in ps)
        per_label.setdefault(str(record["gold"]), {"rows": 0, "accepted": 0})["rows"] += 1
    n = len(rows) + len(rejected)
    return {
        "mode": config.cot,
        "rows": n,
        "accepted": len(rows),
        "rejected": len(rejected),
        "acceptance_rate": len(rows) / n if n else 0.0,
        "generations": generations,
        "accepted_at_attempt": dict(sorted(at.items())),
        "rejection_reasons": dict(reasons),
        "per_label": dict(sorted(per_label.items())),
        "au_f1_threshold": config.au_f1_threshold,
        "retries": config.retries if config.cot == "teacher" else 0,
        "teacher": config.model if config.cot == "teacher" else None,
    }


def _save(out: Path, splits: dict[str, list[dict[str, Any]]]) -> None:
    """Save the DatasetDict into ``out`` via a temporary folder (so a crash never leaves half a dataset)."""
    from datasets import Dataset, DatasetDict
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    tmp = out / ".work" / "dataset.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    quiet = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        DatasetDict({name: Dataset.from_list(rows) for name, rows in splits.items()}).save_to_disk(str(tmp))
    finally:
        if not quiet:
            enable_progress_bars()
    for entry in tmp.iterdir():
        target = out / entry.name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(entry, target)
    shutil.rmtree(tmp, ignore_errors=True)


def _finish(out: Path, work: _WorkFiles, source: Source, config: BuildConfig, order: list[str]) -> BuildSummary:
    from emoreason.data_builders.card import write_card

    names = order + [s for s in work.splits if s not in order]  # the source's own split order
    splits = {s: work.read(work.work / f"rows-{s}.jsonl") for s in names if s in work.splits}
    splits = {s: rows for s, rows in splits.items() if rows}
    rejected = work.read(work.work / "rejected.jsonl")
    all_rows = [r for rows in splits.values() for r in rows]
    skipped = Counter(r["reason"] for r in work.skipped.values())
    examples: dict[str, list[str]] = {}
    for record in work.skipped.values():
        examples.setdefault(record["reason"], []).append(record["id"])
    summary = BuildSummary(
        out=str(out),
        source=source.name,
        rows={s: len(rows) for s, rows in splits.items()},
        skipped=dict(skipped),
        skipped_examples={k: v[:5] for k, v in examples.items()},
        rejected=len(rejected),
        acceptance=_acceptance(all_rows, rejected, config),
        au_coverage=sum(1 for r in all_rows if r.get("aus")) / len(all_rows) if all_rows else 0.0,
        resumed=work.resumed,
    )
    if splits:
        _save(out, splits)
    else:
        logger.warning("no row was kept, so no dataset was saved in %s (see README.md for why)", out)
    write_card(out, source, splits, summary, config)
    (work.work / "summary.json").write_text(json.dumps(asdict(summary), indent=2))
    return summary
