"""The dataset card (``--out/README.md``): source and its license notice, counts per label and split, what was left
out and why, evidence support per label (with the ``support.png`` plot), AU sources, faces and quality flags, CoT
mode and acceptance statistics. The numbers come from the build's report (``report.py``). Written atomically."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from emoreason.data_builders.base import Source
from emoreason.data_builders.report import table
from emoreason.data_builders.support import CLEAR, SUPPORTED
from emoreason.facs import au_name, coerce_aus, parse_au_key, present
from emoreason.io import atomic_write_text

TAGS = ["emotion", "facial-action-units", "chain-of-thought", "emoreason"]


def _label_table(splits: dict[str, list[dict[str, Any]]]) -> list[str]:
    counts = {s: Counter(str(r["label"] if r["label"] else "/".join(r["labels"]) or "none") for r in rows)
              for s, rows in splits.items()}  # fmt: skip
    labels = sorted(set().union(*(set(c) for c in counts.values())))
    names = list(splits)
    lines = ["| label | " + " | ".join(names) + " | total |", "|---|" + "---:|" * (len(names) + 1)]
    for label in labels:
        row = [counts[s][label] for s in names]
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + f" | {sum(row)} |")
    totals = [len(splits[s]) for s in names]
    lines.append("| **total** | " + " | ".join(str(v) for v in totals) + f" | {sum(totals)} |")
    return lines


def _au_lines(rows: list[dict[str, Any]]) -> list[str]:
    with_aus = [coerce_aus(r["aus"]) for r in rows if r.get("aus")]
    sources = Counter(str(r["meta"].get("au_source")) for r in rows)
    lines = [
        f"{len(with_aus)} of {len(rows)} rows ({100 * len(with_aus) / max(1, len(rows)):.1f}%) have AUs. "
        "AU sources: " + ", ".join(f"{k} ({v})" for k, v in sources.most_common()) + "."
    ]
    freq = Counter(n for aus in with_aus for n in present(aus))
    if freq:
        lines += ["", "| AU | name | rows where present |", "|---|---|---:|"]
        for number, n in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"| AU{number} | {au_name(parse_au_key(number)[0])} | {n} |")
    return lines


def _markdown(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)] + [
        "| " + " | ".join(f"**{v}**" if r[0] == "total" and v else v for v in r) + " |" for r in body
    ]


def _evidence_lines(report: dict[str, Any], summary: Any, plot: str | None) -> list[str]:
    lines = [
        "Each row's `meta.support` is how well its own AUs back its gold label: "
        "`eval.consistency.evidence_support` (the function behind the evidence-consistency metric and the GRPO "
        "consistency reward) of the AUs at or above the presence threshold. `meta.evidence` is `supported` "
        f"(support >= {SUPPORTED}), `contradicts` (the AUs point at another emotion whose own support is >= {CLEAR}), "
        "`weak`, or `unchecked` (no AUs, or a label with no FACS prototype). Speech and prosody do not enter it.",
        "",
        "Kept: "
        + ", ".join(f"{summary.evidence.get(v, 0)} {v}" for v in ("supported", "weak", "contradicts", "unchecked"))
        + ".",  # fmt: skip
        f"Left out: --min-support {report.get('min_support')}, --keep-ambiguous {report.get('keep_ambiguous')}.",
        "",
    ]
    for split, labels in report["splits"].items():
        lines += [f"**{split}**", "", *_markdown(*table(labels)), ""]
    if plot:
        lines += [f"![evidence support per label]({plot})", "", f"[{plot}]({plot}): each kept row's support per label "
                  "(blue supported, orange weak, red contradicting; the bar is the median).", ""]  # fmt: skip
    titles = {
        "face_rules": "Face chosen by",
        "quality": "Quality flags on kept rows",
        "flagged_unsupported": "Quality flags on weak or contradicting rows (a misreading rather than a wrong label?)",
        "uncertain_aus": "Uncertain AUs on kept rows",
    }
    for key, title in titles.items():
        values = report.get(key) or {}
        lines.append(f"- {title}: " + (", ".join(f"{k} ({v})" for k, v in values.items()) or "none") + ".")
    least = report.get("least_supported") or []
    if least:
        lines += ["", f"Least-supported kept rows (`emoreason data inspect {summary.out}` lists more):", ""]
        lines += ["| id | split | label | support | evidence | AUs point at |", "|---|---|---|---:|---|---|"]
        for r in least[:10]:
            lines.append(f"| {r['id']} | {r['split']} | {r['label']} | {r['support']:.2f} | {r['evidence']} | "
                         f"{r.get('implied') or ''} |")  # fmt: skip
    return lines


def _acceptance_lines(a: dict[str, Any], cot_kinds: dict[str, int]) -> list[str]:
    if a["mode"] != "teacher":
        return [
            "- CoT mode: **rules**. The FACS rule engine writes a rationale for the gold label only where the row's "
            "evidence is `supported` (or `unchecked` with AUs: an open-vocabulary label); weak and contradicting "
            "rows, and rows with no AUs, get a plain CoT that says what the face shows and that the label comes "
            "from the annotation.",
            f"- Kept rows: {cot_kinds.get('rationale', 0)} rule-engine rationales, {cot_kinds.get('plain', 0)} plain "
            "CoTs.",
            "- Every CoT passes `parse_output` (gold label, `format_ok`) by construction and cites exactly the AUs at "
            "or above the presence threshold (AU-F1 1 by construction): this is not an acceptance test; the evidence "
            "verdicts above are what tell the rows apart.",
        ]
    lines = [
        f"- CoT mode: **{a['mode']}**" + (f" (teacher: {a['teacher']})" if a.get("teacher") else ""),
        f"- Acceptance: {a['accepted']} of {a['rows']} rows ({100 * a['acceptance_rate']:.1f}%); "
        f"{a['rejected']} rejected after {a['retries'] + 1} attempt(s); {a['generations']} generations in all.",
        f"- Kept only if `parse_output` gives the gold label, `format_ok`, and AU-F1 >= {a['au_f1_threshold']}; "
        "the teacher writes for every row, so a kept CoT can still rationalise a weak or contradicting row (see "
        "`meta.evidence`).",
    ]
    if a["accepted_at_attempt"]:
        lines.append("- Accepted at attempt: " + ", ".join(f"{k}: {v}" for k, v in a["accepted_at_attempt"].items()))
    if a["rejection_reasons"]:
        reasons = ", ".join(f"{k}: {v}" for k, v in a["rejection_reasons"].items())
        lines.append(f"- Failed attempts by reason: {reasons}")
    if a["per_label"]:
        lines += ["", "| gold label | rows | accepted | rate |", "|---|---:|---:|---:|"]
        for label, s in a["per_label"].items():
            rate = 100 * s["accepted"] / max(1, s["rows"])
            lines.append(f"| {label} | {s['rows']} | {s['accepted']} | {rate:.0f}% |")
    return lines


def render_card(
    source: Source, splits: dict[str, list[dict[str, Any]]], summary: Any, report: dict[str, Any], plot: str | None
) -> str:
    """The card's markdown."""
    rows = [r for part in splits.values() for r in part]
    skipped = {**summary.skipped, **summary.excluded}
    lines = [
        f"# {source.name}: emotion explanations built with emoreason",
        "",
        f"Built by `emoreason build-data {source.name}` from **{source.description}**.",
        "Each row has the face image(s), FACS Action Units, transcript, gold label(s) and a chain-of-thought target",
        "`<think>Key observations ... Overall interpretation ... Conclusion ...</think><answer>LABEL</answer>`.",
        "Image paths point into the source corpus on the machine that built this dataset (or into this folder's",
        "`images/` for decoded frames); the images themselves are not part of the dataset.",
        "",
        "## Source and license",
        "",
        f"> {source.license}",
        "",
        f"Cite: {source.citation}" if source.citation else "",
        "",
        "## Counts per label and split",
        "",
        *_label_table(splits),
        "",
        f"Skipped: {sum(skipped.values())} items"
        + (": " + "; ".join(f"{v} {k}" for k, v in sorted(skipped.items(), key=lambda kv: -kv[1])) if skipped else ""),
        "",
        "## Evidence support, faces and what was left out",
        "",
        *_evidence_lines(report, summary, plot),
        "",
        "## AU coverage",
        "",
        *_au_lines(rows),
        "",
        "## Chain-of-thought synthesis",
        "",
        *_acceptance_lines(summary.acceptance, summary.cot_kinds),
        "",
        "## Columns",
        "",
        "`id`, `images` (paths), `video`, `frames`, `aus` ({AU: 0..5 intensity}, a struct: read with",
        "`emoreason.facs.coerce_aus`), `transcript`, `prosody`, `label` (canonical or null), `labels`, `cot`, `meta`.",
        "Training views: `emoreason.train.data.sft_view` / `grpo_view`.",
        "",
    ]
    return "\n".join(lines)


def write_card(out: Path, source: Source, splits: dict[str, list[dict[str, Any]]], summary: Any,
               report: dict[str, Any], plot: str | None = None) -> Path:  # fmt: skip
    """Write ``out/README.md`` atomically (after the dataset is saved: its header declares the saved features)."""
    from emoreason.data_builders.work import card_header

    path = Path(out) / "README.md"
    header = card_header(Path(out), TAGS)
    return atomic_write_text(path, header + "\n" + render_card(source, splits, summary, report, plot))
