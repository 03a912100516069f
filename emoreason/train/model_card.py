"""The model card (``README.md``, Hugging Face format) written by ``emoreason export``.

Sections follow Mitchell et al., "Model Cards for Model Reporting" (FAT* 2019): model details, intended use,
out-of-scope use, training data, evaluation (per class, and per demographic group where the eval data has groups),
ethical considerations, caveats and known limitations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError

HEADLINE = ("accuracy", "uar", "macro_f1", "weighted_f1", "au_f1", "format_rate", "consistency", "rouge_l", "tem_f1")
GROUP_KEYS = ("per_group", "groups", "by_group", "per_demographic")


def read_eval_metrics(eval_dir: str | Path | None) -> dict[str, Any] | None:
    """``metrics.json`` from an ``emoreason eval`` output folder (or the file itself), or None when not given."""
    if eval_dir is None:
        return None
    path = Path(eval_dir)
    path = path / "metrics.json" if path.is_dir() else path
    if not path.is_file():
        raise EmoreasonError(f"--eval {eval_dir}: no metrics.json there (run `emoreason eval ... --out DIR` first)")
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise EmoreasonError(f"{path} is not valid JSON: {err}") from err


def training_history(adapter: str | Path) -> list[dict[str, Any]]:
    """The stages that made this adapter, oldest first, from each stage's ``emoreason_train.json``."""
    stages: list[dict[str, Any]] = []
    seen: set[str] = set()
    current: Path | None = Path(adapter)
    while current is not None and str(current.resolve()) not in seen:
        seen.add(str(current.resolve()))
        info_path = current / "emoreason_train.json"
        if not info_path.is_file():
            break
        info = json.loads(info_path.read_text())
        stages.insert(0, info)
        current = Path(info["adapter_path"]) if info.get("adapter_path") else None
    return stages


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if value is None:
        return "n/a"
    return str(value)


def _table(rows: dict[str, Any], first: str) -> list[str]:
    """A markdown table from ``{name: {metric: value}}`` or ``{name: value}``."""
    if not rows:
        return []
    if all(not isinstance(v, dict) for v in rows.values()):
        return [f"| {first} | value |", "|---|---|", *[f"| {k} | {_fmt(v)} |" for k, v in rows.items()]]
    columns: list[str] = []
    for v in rows.values():
        columns += [
            c for c in (v if isinstance(v, dict) else {}) if c not in columns and not isinstance(v[c], dict | list)
        ]
    lines = [f"| {first} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, v in rows.items():
        lines.append(
            f"| {name} | " + " | ".join(_fmt(v.get(c)) if isinstance(v, dict) else "" for c in columns) + " |"
        )
    return lines


def _evaluation(metrics: dict[str, Any] | None) -> list[str]:
    if metrics is None:
        return [
            "No evaluation was attached to this export. Run `emoreason eval --dataset DIR --split test --backend hf "
            "--model THIS_FOLDER --out EVAL_DIR`, then re-export with `--eval EVAL_DIR`."
        ]
    lines = ["Scored with `emoreason eval` (deterministic metrics; AU-F1 over AUs cited in `<think>`).", ""]
    headline = {k: metrics[k] for k in HEADLINE if k in metrics}
    lines += _table(headline, "metric") + [""]
    if isinstance(metrics.get("per_class"), dict):
        lines += ["### Per class", "", *_table(metrics["per_class"], "class"), ""]
    groups = next((metrics[k] for k in GROUP_KEYS if isinstance(metrics.get(k), dict)), None)
    if groups:
        lines += ["### Per demographic group", ""]
        for attribute, values in groups.items():
            if isinstance(values, dict) and all(isinstance(v, dict) for v in values.values()):
                lines += [f"**{attribute}**", "", *_table(values, attribute), ""]
            else:
                lines += _table({attribute: values}, "group") + [""]
    else:
        lines += ["The evaluation data carries no demographic groups, so no per-group breakdown is reported.", ""]
    return lines


def _training(stages: list[dict[str, Any]]) -> list[str]:
    if not stages:
        return ["The adapter carries no emoreason training record (`emoreason_train.json`)."]
    lines = []
    for s in stages:
        lines.append(
            f"- **{s.get('stage', '?').upper()}** on `{s.get('dataset_path')}` "
            f"(split `{s.get('dataset_train_split')}`, "
            f"{s.get('num_train_samples', '?')} samples, label set `{s.get('label_set')}`); LoRA r={s.get('lora_r')}, "
            f"alpha={s.get('lora_alpha')}, targets `{s.get('lora_target_modules')}`; learning rate "
            f"{s.get('learning_rate')}, {s.get('global_step', '?')} steps."
        )
        if s.get("reward_funcs"):
            weights = s.get("reward_weights") or [1.0] * len(s["reward_funcs"])
            pairs = ", ".join(f"{n} x{w}" for n, w in zip(s["reward_funcs"], weights, strict=False))
            lines.append(f"  Rewards: {pairs}; loss `{s.get('loss_type')}`, {s.get('num_generations')} generations.")
    lines += [
        "",
        "Training targets are Exp-CoT explanations written by the FACS rule engine (or a teacher model) for the "
        "gold label; see each dataset's card for its source, license and label distribution.",
    ]
    return lines


def render_card(base_model: str, adapter: str | Path, merged: bool, metrics: dict[str, Any] | None) -> str:
    """The full README.md text: YAML front matter, then the model-card sections."""
    stages = training_history(adapter)
    datasets = sorted({str(s["dataset_path"]) for s in stages if s.get("dataset_path")})
    # the Hub reads base_model as a model id (the model tree); a local folder (absolute path) is named in the text only
    local = Path(base_model).is_absolute()
    front = ["---", "library_name: " + ("transformers" if merged else "peft")]
    front += [] if local else [f"base_model: {base_model}"]
    front += ["pipeline_tag: image-text-to-text", "license: other", "tags:"]
    front += [f"  - {t}" for t in ("emoreason", "emotion-recognition", "facial-action-units", "lora", "trl")]
    if datasets:
        front += ["datasets:", *[f"  - {d}" for d in datasets]]
    front.append("---")
    body = [
        "",
        f"# emoreason: {Path(str(adapter)).name}",
        "",
        "## Model details",
        "",
        f"A LoRA adapter for `{base_model}`{' merged into the base weights' if merged else ''}, trained with "
        f"emoreason ({' then '.join(s.get('stage', '?').upper() for s in stages) or 'stages not recorded'}; TRL "
        "SFTTrainer / GRPOTrainer with label-based rewards). Given face crops, FACS Action Unit text, a "
        "transcript and prosody cues, it writes `<think>Key observations ... Overall interpretation ... Conclusion"
        " ...</think><answer>LABEL</answer>`.",
        *(
            ["", "The base is a local folder, so the metadata has no `base_model`: add its Hub id there (for "
             "example `base_model: Qwen/Qwen2.5-VL-3B-Instruct`) before you push this card."]
            if local
            else []
        ),
        "",
        "## Intended use",
        "",
        "- Research on explainable affective computing: emotion reasoning over facial Action Units and speech.",
        "- Captioning and annotating media for research datasets, with a human reviewing the output.",
        "- Teaching and demonstration of FACS-grounded reasoning.",
        "",
        "## Out-of-scope use",
        "",
        "- **No clinical use**: not for diagnosing or monitoring any mental-health or medical condition.",
        "- **No decisions about people**: not for hiring, admissions, credit, insurance, policing, border control, "
        "surveillance, or any decision that affects a person's rights or opportunities.",
        "- Not for inferring a person's inner feelings as fact: it labels visible expressions and words, which can "
        "differ from what someone feels.",
        "",
        "## Training data",
        "",
        *_training(stages),
        "",
        "## Evaluation",
        "",
        *_evaluation(metrics),
        "",
        "## Ethical considerations",
        "",
        "Expressions of emotion vary across cultures, ages, genders and individuals, and posed datasets differ from "
        "spontaneous behaviour. Face datasets are known to be demographically imbalanced; check per-group results "
        "before any use, and obtain consent from the people in the media you analyse.",
        "",
        "## Known limitations",
        "",
        "- The label vocabulary is fixed (8 basic + 11 RAF-DB compound labels); other states map to the closest "
        "label or to none.",
        "- AU intensities from the built-in blendshape estimator are approximations; cited AUs can be wrong when "
        "faces are small, occluded, turned away or badly lit.",
        "- The reasoning is generated text: it can be fluent and wrong, and may cite AUs that are not present.",
        "- Rewards check format, label agreement and AU citations, not whether the explanation is true.",
        "",
    ]
    return "\n".join(front + body)
