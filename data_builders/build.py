"""The build-data pipeline: a source corpus -> rows (the row format of docs/architecture.md) -> CoTs -> a saved
``datasets.DatasetDict``.

Reads top to bottom: check the options, load the work files of an earlier run, walk the source's items in batches
(media -> image checks -> AUs -> CoT), append finished rows to ``--out/.work/rows-<split>.jsonl``, then assemble
the DatasetDict with the source's split names, save it into ``--out`` and write the dataset card.

Resumable: every finished row (kept, rejected by the teacher, or skipped) is one JSON line, written as soon as its
batch is done; a restarted build skips those ids. A line cut by an interruption is dropped and redone.

Row columns: ``id``, ``images`` (absolute paths, strings), ``video`` (the clip path, "" for images), ``frames``
(frame indices of ``images`` in ``video``), ``aus`` ({"AU12": 3.0}; Arrow stores it as a struct over the AU keys of
the split, with nulls where a row lacks a key: read it with ``facs.coerce_aus``; None when there are no AUs),
``transcript``, ``prosody``, ``label`` (canonical or None), ``labels``, ``cot``, ``meta`` (source, split, subject,
demographics and corpus extras, ``au_source``, ``label_source``, ``cot_mode``, ``cot_attempts``, the evidence
``support``, ``evidence`` verdict and ``implied`` label (``support.py``), ``cot_kind`` (rationale or plain), and for
built-in AUs the face facts ``face_count``, ``face_rule``, ``chosen_box``, ``ambiguous_face``, ``quality``,
``quality_text``, ``uncertain_aus`` (``attach.py``)).

What is left out: items with no face, unreadable media or a label outside the map are skipped and counted (never
rows); rows built but marked ``ambiguous_face`` (unless ``--keep-ambiguous``) or below ``--min-support`` are kept in
the work files and left out when the dataset is assembled, so changing those options on a resume costs nothing.
The numbers go to ``report.json``, the card and ``support.png`` (``report.py``).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emoreason.data_builders import attach as au_attach
from emoreason.data_builders.base import Context, Sample, Skip, SkipSample, Source
from emoreason.data_builders.cot import COT_MODES, TeacherCot, rules_cot
from emoreason.data_builders.prepare import prepare_row
from emoreason.data_builders.registry import get_source
from emoreason.data_builders.support import VERDICTS
from emoreason.data_builders.work import WorkFiles, save_dataset
from emoreason.errors import EmoreasonError
from emoreason.io import atomic_write_json, check_settings

logger = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]  # (rows finished so far, total or None)
_SPLIT = re.compile(r"^\w+(\.\w+)*$")
# Skip reasons that mean the input is broken: the CLI exits 1 when any occurred (no face is not one of them).
FAILED = ("missing file", "missing path", "empty file", "corrupt image", "corrupt video", "unknown label",
          "no successful OpenFace frame")  # fmt: skip


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
    min_support: float | None = None  # leave out rows whose evidence support is below this (None: keep and mark)
    keep_ambiguous: bool = False  # keep rows whose face is ambiguous (two equally plausible faces)
    expression_model: str | None = None  # --expression-model (perception.expression.model_for; None: the shipped)
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
    excluded: dict[str, int] = field(default_factory=dict)  # built rows left out: ambiguous face, below --min-support
    evidence: dict[str, int] = field(default_factory=dict)  # kept rows per verdict (supported, weak, ...)
    cot_kinds: dict[str, int] = field(default_factory=dict)  # kept rows per CoT kind (rationale, plain)

    @property
    def failed(self) -> dict[str, int]:
        """Skips caused by broken input (missing, empty or corrupt files, unknown labels)."""
        return {reason: n for reason, n in self.skipped.items() if reason in FAILED}

    def lines(self) -> list[str]:
        """The end-of-run summary, one line each."""
        kept = sum(self.rows.values())
        out = [f"saved {kept} rows to {self.out}" if kept else f"no row was kept: no dataset saved in {self.out}"]
        out += [f"  {split}: {n} rows" for split, n in self.rows.items()]
        if self.resumed:
            out.append(f"  ({self.resumed} rows were finished by an earlier run and reused)")
        left_out = {**self.skipped, **self.excluded}
        total_skipped = sum(left_out.values())
        out.append(f"skipped {total_skipped} rows" + (":" if total_skipped else ""))
        for reason, n in sorted(left_out.items(), key=lambda kv: -kv[1]):
            examples = ", ".join(self.skipped_examples.get(reason, [])[:3])
            out.append(f"  {n} {reason}" + (f" (e.g. {examples})" if examples else ""))
        kept = sum(self.evidence.values())
        out.append("evidence: " + ", ".join(f"{self.evidence.get(v, 0)} {v}" for v in VERDICTS) + f" (of {kept} kept)")
        a = self.acceptance
        if a["mode"] == "rules":
            kinds = self.cot_kinds
            out.append(
                f"CoT (rules): {kinds.get('rationale', 0)} rule-engine rationales, {kinds.get('plain', 0)} "
                "plain 'the label comes from the annotation' CoTs (format and label checked; not an acceptance test)"
            )
        else:
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
    if config.min_support is not None and not 0.0 <= config.min_support <= 1.0:
        raise EmoreasonError("--min-support must be between 0 and 1")


def run_settings(config: BuildConfig) -> dict[str, Any]:
    """The options that change what goes into the work files (so a resume must not change them). ``--limit``,
    ``--workers`` and ``--batch-size`` do not; ``--min-support`` and ``--keep-ambiguous`` act when the dataset is
    assembled, so a resume may change them."""
    settings: dict[str, Any] = {
        "source": config.source, "cot": config.cot, "au_source": config.au_source, "fold": config.fold,
        "frames_per_clip": config.frames_per_clip, "frame_stride": config.frame_stride,
        "au_f1_threshold": config.au_f1_threshold,
    }  # fmt: skip
    if config.expression_model is not None:  # the shipped model is the default; a build that named one keeps it
        settings["expression_model"] = str(config.expression_model)
    if config.cot == "teacher":
        settings.update({"backend": config.backend, "model": config.model, "adapter": config.adapter,
                         "base_url": config.base_url, "retries": config.retries})  # fmt: skip
    return settings


def _check_same_run(work: Path, config: BuildConfig) -> None:
    """Refuse to resume into an --out that holds a different build (:func:`run_settings`)."""
    check_settings(work / "run.json", run_settings(config), config.out, "use another --out or delete it")


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
    work = WorkFiles(work_dir)
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
                return prepare_row(sample, source.name, out, au_source, config.openface)
            except SkipSample as skip:
                return skip

        threads = 1 if au_source in ("blendshapes", "auto") else max(1, config.workers)  # one MediaPipe graph
        with ThreadPoolExecutor(threads) as pool:
            prepared = list(pool.map(prep, batch))
        rows = []
        for sample, result in zip(batch, prepared, strict=True):
            if isinstance(result, SkipSample):
                work.skip(
                    sample.id, sample.split, result.reason, result.detail, sample.label or "/".join(sample.labels)
                )
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
                        "cot_kind": outcome.kind,
                    }
                )
                if outcome.accepted:
                    row["cot"] = outcome.text
                    work.row(row)
                else:
                    work.reject(row, outcome)
        work.sync()

    finished, seen, batch, order = 0, set(), [], []
    for item in _samples(source, ctx, config.limit):
        if isinstance(item, Skip):  # its id counts as seen, so a later item with that id is a duplicate, not "done"
            work.skip(item.id if item.id not in seen else f"{item.id}#dup{len(seen)}", item.split, item.reason,
                      item.detail, item.label)  # fmt: skip
            seen.add(item.id)
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


def _select(
    splits: dict[str, list[dict[str, Any]]], config: BuildConfig
) -> tuple[dict[str, list[dict[str, Any]]], list[tuple[dict[str, Any], str]]]:
    """The rows that go into the dataset, and the built rows left out with their reason."""
    kept: dict[str, list[dict[str, Any]]] = {}
    excluded: list[tuple[dict[str, Any], str]] = []
    for split, rows in splits.items():
        for row in rows:
            meta = row["meta"]
            if meta.get("ambiguous_face") and not config.keep_ambiguous:
                excluded.append((row, "ambiguous face"))
            elif (
                config.min_support is not None
                and meta.get("support") is not None
                and (meta["support"] < config.min_support)
            ):
                excluded.append((row, "below --min-support"))
            else:
                kept.setdefault(split, []).append(row)
    return kept, excluded


def _finish(out: Path, work: WorkFiles, source: Source, config: BuildConfig, order: list[str]) -> BuildSummary:
    from emoreason.data_builders import report as reporting
    from emoreason.data_builders.card import write_card

    work.close()  # every row is in; the rest only reads
    names = order + [s for s in work.splits if s not in order]  # the source's own split order
    built = {s: work.read(f"rows-{s}.jsonl") for s in names if s in work.splits}
    splits, excluded = _select({s: rows for s, rows in built.items() if rows}, config)
    rejected = work.read("rejected.jsonl")
    all_rows = [r for rows in splits.values() for r in rows]
    skipped = Counter(r["reason"] for r in work.skipped.values())
    examples: dict[str, list[str]] = {}
    for record in work.skipped.values():
        examples.setdefault(record["reason"], []).append(record["id"])
    for row, reason in excluded:
        examples.setdefault(reason, []).append(row["id"])
    summary = BuildSummary(
        out=str(out),
        source=source.name,
        rows={s: len(rows) for s, rows in splits.items()},
        skipped=dict(skipped),
        skipped_examples={k: v[:5] for k, v in examples.items()},
        rejected=len(rejected),
        acceptance=reporting.acceptance(all_rows, rejected, config),
        au_coverage=sum(1 for r in all_rows if r.get("aus")) / len(all_rows) if all_rows else 0.0,
        resumed=work.resumed,
        excluded=dict(Counter(reason for _, reason in excluded)),
        evidence=dict(Counter(str(r["meta"].get("evidence") or "unchecked") for r in all_rows)),
        cot_kinds=dict(Counter(str(r["meta"].get("cot_kind") or "rationale") for r in all_rows)),
    )
    if splits:
        save_dataset(out, splits)
    else:
        logger.warning("no row was kept, so no dataset was saved in %s (see README.md for why)", out)
    report = reporting.summarize(splits, excluded, list(work.skipped.values()))
    report.update({"source": source.name, "min_support": config.min_support, "keep_ambiguous": config.keep_ambiguous,
                   "summary": asdict(summary)})  # fmt: skip
    reporting.write_report(out, report)
    plot = reporting.plot_support(out, splits)
    write_card(out, source, splits, summary, report, plot.name if plot else None)
    atomic_write_json(work.work / "summary.json", asdict(summary))
    return summary
