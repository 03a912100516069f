"""The eval runner: load predictions and references, (optionally) run a reasoner over a split, score, report.

Reads top to bottom: load the references, get the predictions (a JSONL file, or a resumable run of a backend over
the split into ``OUT/predictions.jsonl``), match them by ``id``, score every sample (:func:`score_sample`),
aggregate (:func:`aggregate`), then ``report.write_outputs``.

Matching: a reference with no prediction is scored as an empty output (wrong label, no format, no AUs) and counted
in ``coverage.missing_predictions``; a prediction with no reference is not scored and is counted in
``coverage.unmatched_predictions``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoreason import facs
from emoreason.errors import EmoreasonError
from emoreason.io import JsonlLog, check_settings
from emoreason.labels import BASIC_LABELS, CANONICAL_LABELS, EXTENDED_LABELS, LABEL_SETS, LabelSet, normalize_label
from emoreason.schema import Evidence

logger = logging.getLogger(__name__)

KNOWN_LABELS = frozenset(CANONICAL_LABELS + EXTENDED_LABELS)


@dataclass
class EvalConfig:
    """Options of one ``emoreason eval`` run (see the CLI for their meaning)."""

    out: Path
    predictions: Path | None = None
    references: Path | None = None
    dataset: Path | None = None
    split: str | None = None
    backend: str = "rules"
    model: str | None = None
    adapter: str | None = None
    base_url: str | None = None
    batch_size: int = 8
    label_set: str = "auto"
    n_bootstrap: int = 1000
    seed: int = 0
    events: str = "lexicon"
    limit: int | None = None
    ablate: str | None = None  # "face,speech,prosody": rerun the backend once per removed modality


# ---------------------------------------------------------------------------------------------- loading
def read_jsonl(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) per non-blank line; a malformed line raises naming the file and line. ``what`` is the
    option the path came from (``--predictions``), used in the messages."""
    if not path.is_file():
        raise EmoreasonError(f"{what} {path}: no such file" + (" (it is a folder)" if path.is_dir() else ""))
    seen = False
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as err:
                message = f"{path}, line {number}: not valid JSON ({getattr(err, 'msg', err)}); fix or remove the line"
                raise EmoreasonError(message) from None
            if not isinstance(obj, dict):
                raise EmoreasonError(f"{path}, line {number}: expected a JSON object, got {type(obj).__name__}")
            seen = True
            yield number, obj
    if not seen:
        raise EmoreasonError(f"{what} {path}: the file is empty")


def load_predictions(path: Path) -> tuple[dict[str, dict[str, Any]], int]:
    """``{id: row}`` from a predictions JSONL (rows ``{"id", "output"}``); a repeated id keeps its last row.
    Returns the rows and the number of repeated ids."""
    rows: dict[str, dict[str, Any]] = {}
    duplicates = 0
    for number, obj in read_jsonl(path, "--predictions"):
        if "id" not in obj or "output" not in obj:
            raise EmoreasonError(f'{path}, line {number}: a prediction needs "id" and "output" (raw model text)')
        if obj["id"] is None or obj["id"] == "":
            raise EmoreasonError(f'{path}, line {number}: "id" is empty; give the id of the reference it answers')
        if not isinstance(obj["output"], str):
            kind = "null" if obj["output"] is None else type(obj["output"]).__name__
            raise EmoreasonError(f'{path}, line {number}: "output" must be the raw model text (a string), not {kind}')
        key = str(obj["id"])
        duplicates += key in rows
        rows[key] = obj
    return rows, duplicates


def _known_label(value: Any, where: str) -> str:
    """The label a reference names: canonical or extended (labels.py), else a word of the open-vocabulary lexicon
    (eval/emotion_wheels.json) as written, lower-cased; anything else raises."""
    from emoreason.eval.ov import load_lexicon

    label = value if value in KNOWN_LABELS else normalize_label(str(value), "open")
    if label is None and load_lexicon().knows(str(value)):
        label = " ".join(str(value).lower().split())
    if label is None:
        raise EmoreasonError(
            f"{where}: unknown label {value!r}; references must use a canonical label "
            f"({', '.join(CANONICAL_LABELS[:8])} or a RAF-DB compound), an open-vocabulary one "
            f"({', '.join(EXTENDED_LABELS[:3])}, ...) or a word of the lexicon in eval/emotion_wheels.json"
        )
    return label


def clean_reference(row: dict[str, Any], where: str) -> dict[str, Any]:
    """One reference row in the dataset format, validated: id, label/labels known, aus coerced, meta a dict."""
    if row.get("id") in (None, ""):
        raise EmoreasonError(f'{where}: a reference row needs an "id"')
    label = _known_label(row["label"], where) if row.get("label") not in (None, "") else None
    raw_labels = row.get("labels") or []
    raw_labels = [raw_labels] if isinstance(raw_labels, str) else raw_labels
    labels = [_known_label(x, where) for x in raw_labels if x not in (None, "")]
    try:
        aus = facs.coerce_aus(row.get("aus"))
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise EmoreasonError(f'{where}: unreadable "aus" ({err}); use {{"AU12": 3.0, ...}}') from err
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    ov_words = [str(x) for x in raw_labels if x not in (None, "")] or ([str(row["label"])] if label else [])
    return {**row, "id": str(row["id"]), "label": label, "labels": labels, "aus": aus, "meta": meta,
            "ov_words": ov_words}  # fmt: skip


def _dataset_split(path: Path, split: str | None) -> Any:
    from datasets import Dataset, DatasetDict, load_from_disk

    try:
        data = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as err:
        raise EmoreasonError(f"{path} is not a dataset folder written by `emoreason build-data` ({err})") from err
    if isinstance(data, Dataset):
        return data
    assert isinstance(data, DatasetDict)
    if split is None:
        if len(data) != 1:
            raise EmoreasonError(f"{path} has splits {', '.join(data)}; choose one with --split")
        split = next(iter(data))
    if split not in data:
        raise EmoreasonError(f"{path} has no split {split!r}; it has: {', '.join(data)}")
    return data[split]


def dataset_split_name(path: Path, default: str = "test") -> str | None:
    """The split ``eval --dataset`` scores when no --split is given: ``default`` when the dataset has it, else its
    only split, said on stderr (a manifest without a ``split`` column builds one split, ``train``); several
    splits without ``default`` is an error listing them. None: ``path`` is not a dataset folder (checked later)."""
    from datasets import DatasetDict, load_from_disk

    try:
        data = load_from_disk(str(path))
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(data, DatasetDict) or default in data:
        return default
    if len(data) != 1:
        raise EmoreasonError(f"{path} has no split {default!r}; it has: {', '.join(data)}; choose one with --split")
    only = next(iter(data))
    logger.warning(
        "%s has no split %r: scoring its one split %r (%d rows); a model trained on this dataset has seen them, so "
        "give the manifest a split column (train, validation, test) to hold some out, or pass --split", path,
        default, only, len(data[only]),
    )
    return only


def load_references(
    path: Path, split: str | None = None, limit: int | None = None, what: str = "--references"
) -> list[dict[str, Any]]:
    """Reference rows from a build-data dataset folder (one ``split``) or a JSONL file of dataset-format rows.
    ``what`` is the option the path came from, used in the messages."""
    if not path.exists():
        kind = "a build-data dataset folder" + (" or a JSONL file of dataset rows" if what == "--references" else "")
        raise EmoreasonError(f"{what} {path}: no such file or folder; pass {kind}")
    if path.is_dir():
        data = _dataset_split(path, split)
        if limit is not None:
            data = data.select(range(min(limit, len(data))))
        rows = [clean_reference(row, f"{path} [{split or 'split'}] row {i}") for i, row in enumerate(data)]
        if not rows:
            raise EmoreasonError(f"{path} split {split!r} has no rows")
    else:
        rows = [clean_reference(obj, f"{path}, line {n}") for n, obj in read_jsonl(path, what)]
        rows = rows[:limit] if limit is not None else rows
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise EmoreasonError(f"{path}: reference ids must be unique; repeated: {', '.join(repeated)}")
    return rows


def auto_label_set(references: list[dict[str, Any]]) -> LabelSet:
    """The label set the references call for: "open" when one uses an open-vocabulary label, "compound" when one is
    a compound, else "basic" (a RAF-DB basic or FER split is prompted with the 8 basic labels, not 19)."""
    golds = {x for r in references for x in [r["label"], *r["labels"]] if x}
    if golds - set(CANONICAL_LABELS):
        return "open"
    return "compound" if golds - set(BASIC_LABELS) else "basic"


def parse_label_set(label_set: str) -> str:
    """How answers are read: a basic prompt's answers are read as compound too, so an off-list compound answer shows
    as what it said (a wrong class in the confusion matrix, partial label_f1) rather than as unparseable."""
    return "compound" if label_set == "basic" else label_set


# ---------------------------------------------------------------------------------------------- predicting
def predict_split(
    rows: list[dict[str, Any]],
    reasoner: Any,
    out_path: Path,
    label_set: str,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
    transform: Callable[[Evidence], Evidence] | None = None,
) -> int:
    """Run ``reasoner`` over the rows in batches, appending ``{"id", "output", "label"}`` lines to ``out_path``.

    Resumes: ids already in the file are skipped. Batches go through ``reasoning.base.reason_each`` (a failing
    batch is retried item by item); an item that still fails is written with ``"error"`` and an empty output.
    ``transform`` changes each Evidence before the backend sees it (``--ablate``: one modality removed). Returns
    the number of failed items in this run.
    """
    from emoreason.data_builders.rows import row_evidence as _row_evidence
    from emoreason.reasoning.base import needs_images, reason_each

    def row_evidence(row: dict[str, Any], label_set: str, load_images: bool) -> Evidence:
        evidence = _row_evidence(row, label_set, load_images=load_images)
        return transform(evidence) if transform else evidence

    log = JsonlLog(out_path)  # resumes: a line cut by an interruption is dropped
    resumed = len(log.done)
    todo = [r for r in rows if r["id"] not in log]
    load_images = needs_images(reasoner)  # the rule engine reads AUs only
    failed = 0
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        built: dict[str, Evidence | Exception] = {}
        for row in batch:
            try:
                built[row["id"]] = row_evidence(row, label_set, load_images=load_images)
            except Exception as err:  # noqa: BLE001 - a row that can't become Evidence is recorded, the run carries on
                built[row["id"]] = err
        ready = [row for row in batch if not isinstance(built[row["id"]], Exception)]
        replies = reason_each(reasoner, [built[r["id"]] for r in ready], batch_size)  # type: ignore[misc]
        answers = dict(zip([r["id"] for r in ready], replies, strict=True))
        lines: list[dict[str, Any]] = []
        for row in batch:
            res = answers.get(row["id"], built[row["id"]])
            if isinstance(res, Exception):  # recorded per item, the run carries on
                failed += 1
                lines.append({"id": row["id"], "output": "", "label": None, "error": str(res)[:500]})
            else:
                lines.append({"id": row["id"], "output": res.raw, "label": res.label})
        log.extend(lines)
        if progress:
            progress(resumed + start + len(batch), len(rows))
    log.close()
    return failed


def _build_reasoner(config: EvalConfig) -> Any:
    from emoreason.reasoning.base import build_reasoner

    try:
        return build_reasoner(config.backend, model=config.model, adapter=config.adapter, base_url=config.base_url)
    except ImportError as err:
        raise EmoreasonError(f"the {config.backend} backend cannot be loaded ({err}); try --backend rules") from err


def predict_ablations(
    references: list[dict[str, Any]],
    reasoner: Any,
    out: Path,
    label_set: str,
    modalities: list[str],
    batch_size: int = 8,
) -> tuple[dict[str, list[str]], dict[str, dict[str, dict[str, Any]]]]:
    """``--ablate``: per modality, run the backend over the rows that have it with it removed, into
    ``OUT/ablate/<modality>.jsonl`` (resumable). Returns (id -> modalities present, modality -> {id: row})."""
    from functools import partial

    from emoreason.data_builders.rows import row_evidence
    from emoreason.modalities import present_modalities, without_modality

    present = {r["id"]: present_modalities(row_evidence(r, label_set)) for r in references}
    (out / "ablate").mkdir(parents=True, exist_ok=True)
    ablated: dict[str, dict[str, dict[str, Any]]] = {}
    for modality in modalities:
        rows = [r for r in references if modality in present[r["id"]]]
        path = out / "ablate" / f"{modality}.jsonl"
        if rows:
            transform = partial(without_modality, modality=modality)
            predict_split(rows, reasoner, path, label_set, batch_size, transform=transform)
        ablated[modality] = load_predictions(path)[0] if rows else {}
        logger.info("without %s: %d of %d samples rerun", modality, len(rows), len(references))
    return present, ablated


# ---------------------------------------------------------------------------------------------- top level
def evaluate(config: EvalConfig, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run one evaluation and write its outputs into ``config.out``; returns ``metrics.json``'s content."""
    from emoreason.eval.report import write_outputs
    from emoreason.eval.scoring import aggregate, score_samples

    if (config.predictions is None) == (config.dataset is None):
        raise EmoreasonError("give either --predictions P.jsonl --references REF, or --dataset DIR (to run a model)")
    if config.events not in ("lexicon", "llm"):
        raise EmoreasonError(f"--events must be lexicon or llm, not {config.events!r}")
    if config.label_set not in ("auto", *LABEL_SETS):
        raise EmoreasonError(f"--label-set must be one of: auto, {', '.join(LABEL_SETS)}; not {config.label_set!r}")
    from emoreason.modalities import parse_modalities

    ablate = parse_modalities(config.ablate)
    if ablate and config.dataset is None:
        raise EmoreasonError("--ablate reruns the backend without each modality: use --dataset, not --predictions")
    config.out.mkdir(parents=True, exist_ok=True)
    reasoner = None
    failed = 0
    if config.predictions is not None:
        if config.references is None:
            raise EmoreasonError("--predictions needs --references (a build-data dataset folder or a JSONL file)")
        references = load_references(config.references, config.split, config.limit)
        predictions, duplicates = load_predictions(config.predictions)
        label_set = auto_label_set(references) if config.label_set == "auto" else config.label_set
    else:
        assert config.dataset is not None
        split = config.split or dataset_split_name(config.dataset) or "test"
        references = load_references(config.dataset, split, config.limit, "--dataset")
        label_set = auto_label_set(references) if config.label_set == "auto" else config.label_set
        info = {"dataset": str(config.dataset.resolve()), "split": split, "backend": config.backend,
                "model": config.model, "adapter": config.adapter, "label_set": label_set}  # fmt: skip
        restart = "use another --out or delete it"
        check_settings(config.out / "predictions.meta.json", info, config.out / "predictions.jsonl", restart)
        reasoner = _build_reasoner(config)
        failed = predict_split(
            references, reasoner, config.out / "predictions.jsonl", label_set, config.batch_size, progress
        )
        predictions, duplicates = load_predictions(config.out / "predictions.jsonl")
    extractor = None
    if config.events == "llm":
        from emoreason.eval.temporal import llm_extract_events

        generator = reasoner if reasoner is not None else _build_reasoner(config)
        if not hasattr(generator, "generate_texts"):
            raise EmoreasonError(f"--events llm needs a model backend (hf or openai), not {config.backend}")
        extractor = lambda texts: llm_extract_events(texts, generator, config.batch_size)  # noqa: E731
    samples = score_samples(references, predictions, parse_label_set(label_set), extractor)
    attribution = None
    if ablate:
        from emoreason.eval.attribution import ablation_block

        present, ablated = predict_ablations(references, reasoner, config.out, label_set, ablate, config.batch_size)
        attribution = ablation_block(samples, present, ablated, parse_label_set(label_set))
    metrics = aggregate(samples, references, predictions, duplicates, config.n_bootstrap, config.seed)
    metrics["modality_attribution"] = attribution
    metrics["label_set"] = label_set
    metrics["failed_items"] = sum(1 for p in predictions.values() if p.get("error"))
    metrics["failed_this_run"] = failed
    metrics["config"] = {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(config).items() if k not in ("base_url",)
    }
    write_outputs(config.out, metrics, samples)
    return metrics
