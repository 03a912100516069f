"""Speed of `emoreason eval` scoring (predictions mode) on synthetic rule-engine outputs, and of TEM alone.

Run: ``python benchmarks/eval_speed.py --n 5000 --bootstrap 1000`` -> prints samples/s for parsing + per-sample
scoring, for aggregation with bootstrap CIs, for the whole run (files written), and TEM pairs/s.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

LABELS = ("happiness", "sadness", "surprise", "fear", "disgust", "anger", "neutral")
CAPTIONS = (
    "She smiles, then frowns and looks sad. Later the smile returns.",
    "He raises his eyebrows and his jaw drops, then he looks afraid; he does not smile.",
    "AU4 and AU7 appear, then AU23; the anger fades and she is calm.",
)


def make_files(root: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    from emoreason.facs import PROTOTYPES
    from emoreason.reasoning.rules import explain

    rng = random.Random(seed)
    refs, preds = [], []
    for i in range(n):
        label = rng.choice(LABELS)
        proto = PROTOTYPES.get(label, {})
        aus = {f"AU{a}": round(rng.uniform(1.0, 4.0), 1) for a in proto if rng.random() < 0.8}
        if rng.random() < 0.3:
            aus[f"AU{rng.choice([4, 6, 12, 15, 26])}"] = 2.0
        cot = explain(aus, label=label).text
        refs.append({"id": f"s{i}", "label": label, "labels": [label], "aus": aus, "transcript": "", "cot": cot,
                     "caption": rng.choice(CAPTIONS), "meta": {"gender": rng.choice(["female", "male"])}})  # fmt: skip
        if rng.random() > 0.02:
            preds.append({"id": f"s{i}", "output": explain(aus).text, "caption": rng.choice(CAPTIONS)})
    ref_path, pred_path = root / "refs.jsonl", root / "preds.jsonl"
    ref_path.write_text("".join(json.dumps(r) + "\n" for r in refs))
    pred_path.write_text("".join(json.dumps(p) + "\n" for p in preds))
    return ref_path, pred_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()

    from emoreason.eval.runner import (
        EvalConfig,
        auto_label_set,
        evaluate,
        load_predictions,
        load_references,
        parse_label_set,
    )
    from emoreason.eval.scoring import aggregate, score_samples
    from emoreason.eval.temporal import tem

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        refs_path, preds_path = make_files(root, args.n)
        refs = load_references(refs_path)
        preds, dup = load_predictions(preds_path)
        t0 = time.perf_counter()
        samples = score_samples(refs, preds, parse_label_set(auto_label_set(refs)))
        t1 = time.perf_counter()
        aggregate(samples, refs, preds, dup, args.bootstrap)
        t2 = time.perf_counter()
        metrics = evaluate(EvalConfig(out=root / "out", predictions=preds_path, references=refs_path,
                                      n_bootstrap=args.bootstrap))  # fmt: skip
        t3 = time.perf_counter()
        pairs = [(c, d) for c in CAPTIONS for d in CAPTIONS] * 50
        t4 = time.perf_counter()
        for a, b in pairs:
            tem(a, b)
        t5 = time.perf_counter()
    print(f"n={args.n} bootstrap={args.bootstrap}")
    print(f"per-sample scoring (parse, labels, AUs, consistency, ROUGE-L, TEM): {args.n / (t1 - t0):.0f} samples/s")
    print(f"aggregation + bootstrap CIs: {t2 - t1:.2f} s")
    print(f"whole `eval` run incl. loading and writing files: {t3 - t2:.2f} s ({args.n / (t3 - t2):.0f} samples/s)")
    print(f"TEM alone (extract both captions + LCS): {len(pairs) / (t5 - t4):.0f} pairs/s")
    print("headline:", {k: round(metrics[k], 3) for k in ("accuracy", "uar", "macro_f1", "au_f1", "tem_f1")})


if __name__ == "__main__":
    main()
