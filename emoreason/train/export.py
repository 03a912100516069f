"""``emoreason export ADAPTER --merge --out DIR``: merge a LoRA into its base, save it with processor and card.

The base model, its processor and the adapter go through :mod:`emoreason.reasoning.loading` with its checks (a
missing or text-only base, an adapter for another architecture are one line each). The merge runs on the CPU in
float32 (``pick_dtype("cpu")``) and the merged weights are saved in the base checkpoint's own dtype (a bfloat16
base stays bfloat16, not twice its size), or the ``dtype`` asked for. The export is written into a temporary folder
beside ``out`` that replaces it at the end (:func:`emoreason.io.atomic_dir`).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.io import atomic_dir
from emoreason.reasoning.loading import (
    DTYPES,
    Flags,
    load_adapter,
    load_config,
    load_model,
    load_processor,
    pick_dtype,
)
from emoreason.train.model_card import read_eval_metrics, render_card

logger = logging.getLogger(__name__)

EXPORT_FLAGS = Flags(model="--base", adapter="ADAPTER")


def adapter_base(adapter: Path) -> str:
    """The base model an adapter was trained on (its adapter_config.json)."""
    config = adapter / "adapter_config.json"
    if not config.is_file():
        raise EmoreasonError(f"{adapter} is not a LoRA adapter folder (no adapter_config.json)")
    base = json.loads(config.read_text()).get("base_model_name_or_path")
    if not base:
        raise EmoreasonError(f"{config} names no base model; pass --base")
    return str(base)


def card_base(base: str) -> str:
    """The base model as the card names it: a local folder as its absolute path (a relative one means nothing once
    the card leaves this shell), anything else, a Hub id such as ``Qwen/Qwen2.5-VL-3B-Instruct``, unchanged."""
    path = Path(base).expanduser()
    return str(path.resolve()) if path.exists() else base


def _has_processor(folder: Path) -> bool:
    return (folder / "preprocessor_config.json").is_file() or (folder / "processor_config.json").is_file()


def saved_dtype(config: Any, dtype: str | None = None) -> Any:
    """The dtype the merged weights are saved in: the one asked for, else the base checkpoint's, else float32."""
    import torch

    if dtype not in (None, "auto"):
        return pick_dtype("cpu", dtype)
    recorded = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(recorded, str):
        recorded = getattr(torch, recorded, None)
    return recorded if isinstance(recorded, torch.dtype) and recorded.is_floating_point else torch.float32


def export_model(
    adapter: str | Path,
    out: str | Path,
    merge: bool = True,
    base: str | None = None,
    eval_dir: str | Path | None = None,
    dtype: str | None = None,
) -> Path:
    """Write ``out`` (merged model, or the adapter itself) + processor + README.md model card; returns ``out``."""
    adapter, out = Path(adapter), Path(out)
    if out.exists() and any(out.iterdir()) and not (out / "README.md").is_file():
        raise EmoreasonError(f"--out {out} exists and is not an earlier export; choose a new folder")
    if dtype not in (None, *DTYPES):
        raise EmoreasonError(f"unknown --dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    base = base or adapter_base(adapter)
    metrics = read_eval_metrics(eval_dir)  # fail early, before the slow merge
    own_processor = _has_processor(adapter)  # training saves the processor beside the adapter
    config = load_config(base, flags=EXPORT_FLAGS) if merge or not own_processor else None
    # the adapter's own processor, else the base's, checked against the base's config
    processor = load_processor(str(adapter)) if own_processor else load_processor(base, config)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(out) as tmp:
        if merge:
            model = load_model(base, config, pick_dtype("cpu"), EXPORT_FLAGS)
            merged = load_adapter(model, str(adapter), base, flags=EXPORT_FLAGS).merge_and_unload()
            merged.to(saved_dtype(config, dtype)).save_pretrained(tmp)
        else:
            for item in adapter.iterdir():
                if item.name.startswith("adapter_") or item.name == "emoreason_train.json":
                    shutil.copy2(item, tmp / item.name)
        processor.save_pretrained(tmp)
        (tmp / "README.md").write_text(render_card(card_base(base), adapter, merge, metrics))
        if (adapter / "emoreason_train.json").is_file():
            shutil.copy2(adapter / "emoreason_train.json", tmp / "emoreason_train.json")
        if metrics is not None:
            (tmp / "eval_metrics.json").write_text(json.dumps(metrics, indent=2))
    logger.info("exported %s (%s) to %s", adapter, "merged" if merge else "adapter", out)
    return out
