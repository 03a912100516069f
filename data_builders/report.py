"""What a build produced, in numbers: rows kept and skipped per split and label, evidence support, faces, quality.

:func:`summarize` makes one plain dict (saved as ``--out/report.json``); the dataset card (``card.py``) and
``emoreason data inspect`` both render it, so they never disagree. :func:`plot_support` draws support per label
(``--out/support.png``, linked from the card).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from emoreason.data_builders.cot import gold_answer
from emoreason.errors import EmoreasonError
from emoreason.io import atomic_path, atomic_write_json

REPORT = "report.json"
PLOT = "support.png"
LEAST = 50  # least-supported kept rows stored in the report
# Skip reasons grouped into the card's columns; anything else is "other".
GROUPS = {
    "no face": ("no face",),
    "corrupt": ("corrupt image", "corrupt video", "empty file", "missing file", "missing path",
                "no successful OpenFace frame"),
    "ambiguous": ("ambiguous face",),
    "low support": ("below --min-support",),
}  # fmt: skip


def label_of(row: dict[str, Any]) -> str:
    """The label a row is counted under: its gold label, "/"-joined open labels, or "none"."""
    return str(gold_answer(row) or "/".join(row.get("labels") or []) or "none")


def _quartiles(values: list[float]) -> list[float] | None:
    """[q1, median, q3] by linear interpolation (numpy's default), None for no values.

    >>> _quartiles([0.0, 0.5, 1.0, 1.0])
    [0.375, 0.75, 1.0]
    """
    if not values:
        return None
    xs = sorted(values)

    def q(p: float) -> float:
        k = (len(xs) - 1) * p
        lo = int(k)
        hi = min(lo + 1, len(xs) - 1)
        return round(xs[lo] + (xs[hi] - xs[lo]) * (k - lo), 4)

    return [q(0.25), q(0.5), q(0.75)]


def _cell() -> dict[str, Any]:
    return {"kept": 0, "skipped": Counter(), "supports": [], "verdicts": Counter()}


def _close(cell: dict[str, Any]) -> dict[str, Any]:
    checked = sum(n for v, n in cell["verdicts"].items() if v != "unchecked")
    return {
        "kept": cell["kept"],
        "skipped": dict(cell["skipped"]),
        "support_quartiles": _quartiles(cell["supports"]),
        "checked": checked,
        "verdicts": dict(cell["verdicts"]),
        "contradicting_share": round(cell["verdicts"]["contradicts"] / checked, 4) if checked else None,
    }


def summarize(
    kept: dict[str, list[dict[str, Any]]], excluded: list[tuple[dict[str, Any], str]], skipped: list[dict[str, Any]]
) -> dict[str, Any]:
    """The report: ``kept`` rows per split; ``excluded`` (row, reason) pairs that were built but left out
    (ambiguous face, below --min-support); ``skipped`` work records (id, split, reason, label)."""
    cells: dict[str, dict[str, dict[str, Any]]] = {}

    def cell(split: str, label: str) -> dict[str, Any]:
        return cells.setdefault(split, {}).setdefault(label, _cell())

    for split, rows in kept.items():
        for row in rows:
            c = cell(split, label_of(row))
            c["kept"] += 1
            meta = row["meta"]
            c["verdicts"][meta.get("evidence") or "unchecked"] += 1
            if meta.get("support") is not None:
                c["supports"].append(float(meta["support"]))
    for row, reason in excluded:
        cell(row["meta"]["split"], label_of(row))["skipped"][reason] += 1
    for record in skipped:
        cell(str(record.get("split")), str(record.get("label") or "unknown"))["skipped"][record["reason"]] += 1
    everything: dict[str, dict[str, Any]] = {}
    for labels in cells.values():
        for label, c in labels.items():
            total = everything.setdefault(label, _cell())
            total["kept"] += c["kept"]
            total["skipped"].update(c["skipped"])
            total["supports"] += c["supports"]
            total["verdicts"].update(c["verdicts"])
    rows = [r for part in kept.values() for r in part]
    least = sorted((r for r in rows if r["meta"].get("support") is not None), key=lambda r: r["meta"]["support"])
    return {
        "splits": {s: {lab: _close(c) for lab, c in sorted(labels.items())} for s, labels in cells.items()},
        "all": {lab: _close(c) for lab, c in sorted(everything.items())},
        "au_sources": dict(Counter(str(r["meta"].get("au_source")) for r in rows).most_common()),
        "face_rules": dict(
            Counter(str(r["meta"]["face_rule"]) for r in rows if r["meta"].get("face_rule")).most_common()
        ),
        "quality": dict(Counter(f for r in rows for f in r["meta"].get("quality") or []).most_common()),
        "uncertain_aus": dict(Counter(a for r in rows for a in r["meta"].get("uncertain_aus") or []).most_common()),
        "flagged_unsupported": dict(  # quality flags on weak/contradicting rows: perception trouble, not the label?
            Counter(
                f
                for r in rows
                if r["meta"].get("evidence") in ("weak", "contradicts")
                for f in r["meta"].get("quality") or []
            ).most_common()
        ),
        "least_supported": [
            {
                "id": r["id"],
                "split": r["meta"]["split"],
                "label": label_of(r),
                "support": r["meta"]["support"],
                "implied": r["meta"].get("implied"),
                "evidence": r["meta"].get("evidence"),
                "image": (r.get("images") or [""])[0],
            }
            for r in least[:LEAST]
        ],  # fmt: skip
    }


def acceptance(rows: list[dict[str, Any]], rejected: list[dict[str, Any]], config: Any) -> dict[str, Any]:
    """CoT acceptance statistics: rows accepted, rejected, generations, attempts and reasons, per gold label."""
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


def group_counts(skipped: dict[str, int]) -> dict[str, int]:
    """Skip reasons folded into the card's columns (no face, corrupt, ambiguous, low support, other)."""
    out = dict.fromkeys((*GROUPS, "other"), 0)
    for reason, n in skipped.items():
        group = next((g for g, reasons in GROUPS.items() if reason in reasons), "other")
        out[group] += n
    return out


def write_report(out: Path, report: dict[str, Any]) -> Path:
    """Write ``out/report.json`` atomically."""
    path = Path(out) / REPORT
    return atomic_write_json(path, report, indent=1, ensure_ascii=False)


def read_report(folder: Path) -> dict[str, Any]:
    """The report of a built dataset folder; a folder without one raises an error that says what to do."""
    path = Path(folder) / REPORT
    if not path.is_file():
        raise EmoreasonError(
            f"{folder} has no {REPORT}: it is not a build-data output, or was built by an older version "
            "(run the same build-data command again with this --out to refresh it; finished rows are reused)"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def plot_support(out: Path, kept: dict[str, list[dict[str, Any]]], points: int = 300) -> Path | None:
    """``out/support.png``: per gold label, a box of the kept rows' support and up to ``points`` of the rows as dots
    (contradicting red, weak orange, supported blue). None (no file) when no row has a support value."""
    rows = [r for part in kept.values() for r in part if r["meta"].get("support") is not None]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted({label_of(r) for r in rows})
    colours = {"supported": "tab:blue", "weak": "tab:orange", "contradicts": "tab:red"}
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(labels) + 1.5), 3.4), dpi=100)
    values = []
    for i, label in enumerate(labels):
        mine = [r for r in rows if label_of(r) == label]
        values.append([float(r["meta"]["support"]) for r in mine])
        shown = mine[:: max(1, len(mine) // points)][:points]
        xs = [i + ((j * 0.618) % 1.0 - 0.5) * 0.5 for j in range(len(shown))]
        ax.scatter(xs, [r["meta"]["support"] for r in shown], s=14, alpha=0.7, linewidths=0, zorder=3,
                   c=[colours.get(r["meta"].get("evidence"), "grey") for r in shown])  # fmt: skip
    ax.boxplot(values, positions=range(len(labels)), widths=0.6, showfliers=False, medianprops={"color": "black"})
    ax.set_xticks(range(len(labels)), [f"{lab} ({len(v)})" for lab, v in zip(labels, values, strict=True)],
                  rotation=30, ha="right", fontsize=8)  # fmt: skip
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("evidence support")
    ax.set_title("How well each row's AUs support its gold label (red: contradicts, orange: weak)", fontsize=8)
    fig.tight_layout()
    path = Path(out) / PLOT
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path


def _fmt_q(q: list[float] | None) -> str:
    return "-" if q is None else "/".join(f"{v:.2f}" for v in q)


def _fmt_share(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f}%"


def table(labels: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-label table (the card renders it as markdown, inspect as text)."""
    header = ["label", "kept", *(f"skipped: {g}" for g in (*GROUPS, "other")), "support q1/med/q3",
              "checked", "weak", "contradicting"]  # fmt: skip
    body = []
    totals = _cell()
    for label, c in labels.items():
        groups = group_counts(c["skipped"])
        quality = [str(c["checked"]), str(c["verdicts"].get("weak", 0)), _fmt_share(c["contradicting_share"])]
        body.append(
            [label, str(c["kept"]), *(str(v) for v in groups.values()), _fmt_q(c["support_quartiles"]), *quality]
        )
        totals["kept"] += c["kept"]
        totals["skipped"].update(c["skipped"])
        totals["verdicts"].update(c["verdicts"])
    if len(labels) > 1:
        t = _close(totals)
        groups = group_counts(t["skipped"])
        quality = [str(t["checked"]), str(t["verdicts"].get("weak", 0)), _fmt_share(t["contradicting_share"])]
        body.append(["total", str(t["kept"]), *(str(v) for v in groups.values()), "", *quality])
    return header, body


def report_lines(report: dict[str, Any], n: int = 10) -> list[str]:
    """The report as plain text: a table per split, AU sources, faces, quality flags, the ``n`` least-supported
    kept rows."""
    lines: list[str] = []
    for split, labels in report["splits"].items():
        header, body = table(labels)
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        lines.append(f"{split}:")
        for r in [header, *body]:
            cells = (v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True)))
            lines.append("  " + "  ".join(cells))
    for key, title in (("au_sources", "AU sources"), ("face_rules", "face chosen by"), ("quality", "quality flags"),
                       ("flagged_unsupported", "quality flags on weak/contradicting rows"),
                       ("uncertain_aus", "uncertain AUs")):  # fmt: skip
        values = report.get(key) or {}
        lines.append(f"{title}: " + (", ".join(f"{k} {v}" for k, v in values.items()) or "none"))
    least = report.get("least_supported") or []
    lines.append(f"{min(n, len(least))} least-supported kept rows:" if least else "no kept row has a support value")
    for r in least[:n]:
        implied = f" (points at {r['implied']})" if r.get("implied") and r["implied"] != r["label"] else ""
        lines.append(f"  {r['support']:.2f}  {r['evidence']:<11} {r['split']}/{r['id']}  {r['label']}{implied}  "
                     f"{r['image']}")  # fmt: skip
    return lines
