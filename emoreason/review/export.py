"""What a review makes: the reviewed dataset, the preference pairs, and their card.

One outcome per row from every reviewer's latest decision (:func:`outcome`): ``accepted`` and ``rejected`` when
all who decided agree, ``corrected`` when they agree on a new label or CoT, ``disputed`` when they do not (left out
of both outputs, counted on the card). So a row is counted once however often and by however many it was decided.

- ``<out>/reviewed``: accepted and corrected rows in the build-data row format (``train sft --dataset_path``), with
  ``meta.review`` saying who decided, when, and what the row said before a correction.
- ``<out>/pairs``: one preference pair per corrected row in TRL's format (``prompt`` from the one prompt source,
  ``chosen`` the corrected CoT, ``rejected`` the row's own, ``images`` embedded), for ``train dpo``.

Both are saved ``DatasetDict`` folders (``datasets.load_from_disk``) written by the one row writer
(``data_builders.work``): the reviewed rows keep the source dataset's column types, and the card names the data files
and declares the features and split sizes, so ``datasets.load_dataset(folder)`` reads them too, and a new export is
not answered from the cache of an older one. Rows whose media are gone are left out and listed; their decisions
stay in the logs, and exporting again once the media are back includes them.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.io import atomic_dir, atomic_write_json
from emoreason.review.rows import media_missing
from emoreason.review.store import ReviewStore, relabelled

STATUSES = ("accepted", "corrected", "rejected", "disputed")


@dataclass
class Outcome:
    status: str
    label: str | None
    cot: str | None
    decisions: list[dict[str, Any]]


def category(decision: dict[str, Any]) -> str:
    """What a decision says the row is, for agreement: its label after the decision, or ``rejected``."""
    return "rejected" if decision["action"] == "reject" else str(decision["label"])


def outcome(decisions: list[dict[str, Any]]) -> Outcome:
    """The row's outcome from each reviewer's latest decision (see the module docstring)."""
    decisions = sorted(decisions, key=lambda d: (d["at"], d["reviewer"]))
    kinds = {category(d) for d in decisions}
    if len(kinds) > 1:
        return Outcome("disputed", None, None, decisions)
    if kinds == {"rejected"}:
        return Outcome("rejected", None, None, decisions)
    corrections = [d for d in decisions if d["action"] == "correct"]
    if not corrections:
        return Outcome("accepted", decisions[-1]["label"], None, decisions)
    return Outcome("corrected", corrections[-1]["label"], corrections[-1]["cot"], decisions)


def kappas(decisions: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Cohen's kappa for each pair of reviewers over the rows both decided."""
    from emoreason.eval.metrics import cohen_kappa

    out = []
    for a, b in itertools.combinations(sorted(decisions), 2):
        shared = sorted(set(decisions[a]) & set(decisions[b]))
        if not shared:
            continue
        first = [category(decisions[a][r]) for r in shared]
        second = [category(decisions[b][r]) for r in shared]
        out.append({"reviewers": [a, b], "rows": len(shared), "kappa": cohen_kappa(first, second)})
    return out


@dataclass
class ExportSummary:
    out: Path
    rows: int
    counts: dict[str, int]
    reviewed_rows: int
    pairs: int
    media_gone: list[str] = field(default_factory=list)
    kappas: list[dict[str, Any]] = field(default_factory=list)
    reviewers: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        c = self.counts
        lines = [
            f"{sum(c.values())} of {self.rows} rows reviewed: {c['accepted']} accepted, {c['corrected']} corrected, "
            f"{c['rejected']} rejected, {c['disputed']} disputed",
            f"reviewed dataset: {self.reviewed_rows} rows -> {self.out / 'reviewed'}",
            f"preference pairs: {self.pairs} -> {self.out / 'pairs'}",
        ]
        for k in self.kappas:
            kappa = "n/a" if k["kappa"] is None else f"{k['kappa']:.2f}"
            a, b = k["reviewers"]
            lines.append(f"agreement {a} / {b}: Cohen's kappa {kappa} on {k['rows']} rows")
        if self.media_gone:
            shown = ", ".join(self.media_gone[:5]) + (" ..." if len(self.media_gone) > 5 else "")
            lines.append(f"left out {len(self.media_gone)} reviewed rows whose images are gone ({shown}); restore "
                         "them and export again")
        return lines


def _review_meta(result: Outcome, row: dict[str, Any]) -> dict[str, Any]:
    last = result.decisions[-1]
    return {
        "status": result.status,
        "reviewers": [d["reviewer"] for d in result.decisions],
        "names": [d.get("name") or "" for d in result.decisions],
        "at": last["at"],
        "via": [d.get("via") or "review" for d in result.decisions],
        "original_label": row.get("label") if result.status == "corrected" else None,
        "original_cot": row.get("cot") if result.status == "corrected" else None,
    }


def _reviewed_row(result: Outcome, row: dict[str, Any]) -> dict[str, Any]:
    fixed = row if result.status == "accepted" or result.label == row.get("label") else relabelled(row, result.label)
    fixed = {**fixed, "meta": {**(fixed.get("meta") or {}), "review": _review_meta(result, row)}}
    if result.cot is not None:
        fixed["cot"] = result.cot
    return fixed


def _pair(result: Outcome, row: dict[str, Any], label_set: str) -> dict[str, Any] | None:
    from emoreason.train.data import user_turn

    if result.cot is None or result.cot.strip() == str(row.get("cot") or "").strip():
        return None
    images = [{"bytes": Path(p).read_bytes(), "path": Path(p).name} for p in row.get("images") or []]
    return {
        "id": str(row["id"]),
        "prompt": user_turn(row, label_set),
        "chosen": [{"role": "assistant", "content": [{"type": "text", "text": result.cot}]}],
        "rejected": [{"role": "assistant", "content": [{"type": "text", "text": str(row.get("cot") or "")}]}],
        "images": images,
        "label": result.label,
        "rejected_label": row.get("label"),
        "reviewers": [d["reviewer"] for d in result.decisions],
        "at": result.decisions[-1]["at"],
    }


def _save(folder: Path, splits: dict[str, Any], card: str) -> None:
    from datasets import DatasetDict

    from emoreason.data_builders.card import TAGS
    from emoreason.data_builders.work import card_header

    with atomic_dir(folder) as tmp:
        DatasetDict(splits).save_to_disk(str(tmp))
        (tmp / "README.md").write_text(card_header(tmp, TAGS + ["review"]) + "\n" + card, encoding="utf-8")


def _reviewed_splits(reviewed: dict[str, list[dict[str, Any]]], source: Any) -> dict[str, Any]:
    """The reviewed rows per split, typed like the source dataset's split (``like``), so a field no reviewed row
    filled keeps its type (see ``data_builders.work.rows_dataset``)."""
    from emoreason.data_builders.work import rows_dataset

    return {s: rows_dataset(rows, source.get(s)) for s, rows in reviewed.items() if rows}


def _pair_splits(pairs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    from datasets import Dataset, Image, List

    all_pairs = [p for rows in pairs.values() for p in rows]
    features = Dataset.from_list([{k: v for k, v in p.items() if k != "images"} for p in all_pairs]).features
    features["images"] = List(Image())
    return {s: Dataset.from_list(rows, features=features) for s, rows in pairs.items() if rows}


def _by_row(decisions: dict[str, dict[str, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    by_row: dict[str, list[dict[str, Any]]] = {}
    for reviewer_decisions in decisions.values():
        for rid, decision in reviewer_decisions.items():
            by_row.setdefault(rid, []).append(decision)
    return by_row


def review_summary(folder: str | Path, out: str | Path = "") -> ExportSummary:
    """Where the review of ``folder`` stands: outcomes per row, reviewers, agreement (nothing is written)."""
    store = ReviewStore(folder)
    decisions = store.decisions()
    counts = Counter(outcome(d).status for d in _by_row(decisions).values())
    return ExportSummary(
        out=Path(out), rows=len(store.rows.entries), counts={s: counts.get(s, 0) for s in STATUSES},
        reviewed_rows=counts["accepted"] + counts["corrected"], pairs=0, kappas=kappas(decisions),
        reviewers={r: len(d) for r, d in decisions.items()},
    )  # fmt: skip


def export_review(folder: str | Path, out: str | Path, label_set: str = "compound") -> ExportSummary:
    """Write ``out/reviewed``, ``out/pairs`` and ``out/review.json`` from the review of ``folder``."""
    from emoreason.data_builders.work import quiet_progress
    from emoreason.review.card import render_card

    store = ReviewStore(folder, label_set)
    out = Path(out)
    if out.resolve() == store.folder.resolve() or store.folder.resolve() in out.resolve().parents:
        raise EmoreasonError("--out is inside the dataset folder; give another folder for the reviewed outputs")
    decisions = store.decisions()
    by_row = _by_row(decisions)
    if not by_row:
        raise EmoreasonError(f"no row of {store.folder} has been reviewed yet; review some first (emoreason serve "
                             f"--review {store.folder}, then open /review)")
    counts: Counter[str] = Counter()
    reviewed: dict[str, list[dict[str, Any]]] = {s: [] for s in store.rows.splits}
    pairs: dict[str, list[dict[str, Any]]] = {s: [] for s in store.rows.splits}
    gone: list[str] = []
    for entry in store.rows.entries:  # the folder's order, so outputs keep it
        if entry.id not in by_row:
            continue
        result = outcome(by_row[entry.id])
        counts[result.status] += 1
        if result.status in ("rejected", "disputed"):
            continue
        row = store.rows.row(entry.id)
        if media_missing(row):
            gone.append(entry.id)
            continue
        reviewed[entry.split].append(_reviewed_row(result, row))
        pair = _pair(result, row, label_set)
        if pair is not None:
            pairs[entry.split].append(pair)
    summary = ExportSummary(
        out=out,
        rows=len(store.rows.entries),
        counts={s: counts.get(s, 0) for s in STATUSES},
        reviewed_rows=sum(len(v) for v in reviewed.values()),
        pairs=sum(len(v) for v in pairs.values()),
        media_gone=gone,
        kappas=kappas(decisions),
        reviewers={r: len(d) for r, d in decisions.items()},
    )
    out.mkdir(parents=True, exist_ok=True)
    card = render_card(store.folder, summary)
    for name, splits in (("reviewed", reviewed), ("pairs", pairs)):
        if any(splits.values()):
            with quiet_progress():
                data = _reviewed_splits(reviewed, store.rows.features()) if name == "reviewed" else _pair_splits(pairs)
                _save(out / name, data, card)
        else:  # nothing of this kind now: an older export's folder would be stale
            shutil.rmtree(out / name, ignore_errors=True)
    atomic_write_json(out / "review.json", json.loads(json.dumps(summary.__dict__, default=str)))
    return summary
