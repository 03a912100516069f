"""Reference outputs of the deterministic scores (consistency, TEM, ov): fixed inputs, expected outputs in files.

A change to a lexicon, a prototype table or a formula shows up here as a diff against ``tests/eval/reference/*.json``
instead of as silent drift. The inputs are fixed texts (no rule engine, no model), scored only by the eval
functions. When a change is intended, regenerate the files and review the diff::

    EMOREASON_REGEN=1 pytest tests/eval/test_eval_reference.py   # rewrites the files
    git diff tests/eval/reference
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REFERENCE = Path(__file__).parent / "reference"
REGEN = os.environ.get("EMOREASON_REGEN") == "1"


def _cot(observations: str, conclusion: str, answer: str) -> str:
    return (f"<think>\nKey observations: {observations}\nOverall interpretation: the cues combine.\n"
            f"Conclusion: {conclusion}\n</think>\n<answer>{answer}</answer>")  # fmt: skip


# (output text, transcript) -> consistency scores
CONSISTENCY_INPUTS: list[tuple[str, str]] = [
    (_cot("AU6 cheek raiser (marked) and AU12 lip corner puller (severe).", "happiness.", "happiness"), ""),
    (_cot("AU6 cheek raiser and AU12 lip corner puller.", "happiness.", "sadness"), ""),
    (_cot("AU1 inner brow raiser, AU4 brow lowerer, AU15 lip corner depressor.", "sadness.", "sadness"), ""),
    (_cot("AU4 brow lowerer, AU5 upper lid raiser, AU7 lid tightener, AU23 lip tightener.", "anger.", "anger"), ""),
    (_cot("AU1, AU2, AU5, AU26: brows up, eyes wide, jaw dropped.", "surprise.", "surprise"), ""),
    (_cot("AU9 nose wrinkler and AU10 upper lip raiser.", "disgust.", "disgust"), ""),
    (_cot("AU14 dimpler on the left only (AU14L).", "contempt.", "contempt"), ""),
    (_cot("AU6, AU12, AU1, AU2, AU4, AU5, AU9, AU15, AU20, AU26 all active.", "happiness.", "happiness"), ""),
    (_cot("No action units above the threshold.", "neutral.", "neutral"), ""),
    (_cot('AU6 and AU12; she says "I got the job".', "happiness.", "happiness"), "Guess what, I got the job!"),
    (_cot('AU6 and AU12; she says "I hate this place".', "happiness.", "happiness"), "This is lovely."),
    (_cot("AU1, AU2, AU5, AU12, AU25.", "happily surprised.", "happily surprised"), ""),
    (_cot("AU4, AU7 and AU12.", "anxiety and frustration.", "anxious, frustrated"), ""),
    ("happiness", ""),
    ("<think>Key observations: AU12.</think>", ""),
]

# (predicted caption, reference caption) -> TEM
TEM_INPUTS: list[tuple[str, str]] = [
    ("She smiles, then frowns and looks angry.", "She smiles, then frowns and looks angry."),
    ("She smiles, then frowns.", "She frowns, then smiles."),
    ("He does not smile and looks sad.", "He smiles and looks happy."),
    ("The brows are raised and the jaw drops; she is surprised.", "AU1 and AU2 rise, AU26 jaw drop, surprise."),
    ("A neutral face, then a grin that fades.", "Neutral, then AU12 that disappears."),
    ("", "She smiles."),
    ("", ""),
    ("She looks anxious, later relieved.", "She is nervous, then relieved."),
]

# (prediction, reference) -> ov
OV_INPUTS: list[tuple[Any, Any]] = [
    ("joyful, excited", "happy"),
    ("angry", ["annoyed", "frustrated"]),
    ("loving", "happy"),
    ("sad, zorgish", "sorrowful"),
    ("", "angry"),
    ("happily surprised", "surprise"),
    ("nervous, worried", ["anxiety"]),
    ("not happy, disappointed", ["sadness", "disappointment"]),
    ("calm", "neutral"),
    ("contemptuous, smug", "disgust"),
    ("terrified", "fear"),
    ("proud", "happy"),
]


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return value


def consistency_outputs(inputs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    from emoreason.eval import consistency as c
    from emoreason.reasoning.parser import parse_output

    out = []
    for text, transcript in inputs:
        parsed = parse_output(text, "open")
        grounding = c.transcript_grounding(parsed, transcript)
        out.append({
            "answer": parsed.label or parsed.labels,
            "aus_cited": parsed.aus,
            "reasoning_label": c.reasoning_label_consistency(parsed),
            "implied_label": c.implied_label(parsed.aus),
            "evidence_support": c.evidence_consistency(parsed),
            "contradiction": c.evidence_contradiction(parsed),
            "consistency": c.consistency_score(parsed),
            "grounded": grounding.grounded,
            "hallucinated": grounding.hallucinated,
        })  # fmt: skip
    return out


def tem_outputs(inputs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    from emoreason.eval.temporal import extract_events, tem

    out = []
    for pred, ref in inputs:
        score = tem(pred, ref)
        events = {
            "pred_events": [str(e) for e in extract_events(pred)],
            "ref_events": [str(e) for e in extract_events(ref)],
        }
        out.append({**events, "precision": score.precision, "recall": score.recall, "f1": score.f1, "lcs": score.lcs})
    return out


def ov_outputs(inputs: list[tuple[Any, Any]]) -> dict[str, Any]:
    from emoreason.eval.ov import ov_scores, sample_scores

    samples = [sample_scores(p, r) for p, r in inputs]
    corpus = ov_scores([p for p, _ in inputs], [r for _, r in inputs])
    assert corpus is not None
    keep = ("precision", "recall", "per_wheel", "unknown", "negated")
    return {"samples": [{k: s[k] for k in keep} if s else None for s in samples],
            "corpus": {k: v for k, v in corpus.to_dict().items()}}  # fmt: skip


CASES: dict[str, tuple[list[Any], Callable[[Any], Any]]] = {
    "consistency": (CONSISTENCY_INPUTS, consistency_outputs),
    "tem": (TEM_INPUTS, tem_outputs),
    "ov": (OV_INPUTS, ov_outputs),
}


@pytest.mark.parametrize("name", list(CASES))
def test_scores_match_the_reference_file(name: str) -> None:
    inputs, compute = CASES[name]
    path = REFERENCE / f"{name}.json"
    current = {"inputs": _round(inputs), "outputs": _round(compute(inputs))}
    if REGEN:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(current, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        pytest.skip(f"regenerated {path}; review it with git diff")
    assert path.is_file(), f"{path} is missing; create it with EMOREASON_REGEN=1 pytest {__file__}"
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored["inputs"] == current["inputs"], f"the inputs changed: regenerate {path.name} (see module docstring)"
    assert stored["outputs"] == current["outputs"], (
        f"{name} scores drifted from {path.name}; if the change is intended, regenerate (see the module docstring)"
    )
