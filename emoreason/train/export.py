"""``emoreason export ADAPTER --merge --out DIR``: merge a LoRA into its base, save it with processor and card."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from emoreason.errors import EmoreasonError
from emoreason.io import replace_dir
from emoreason.train.model_card import read_eval_metrics, render_card

logger = logging.getLogger(__name__)


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


def export_model(
    adapter: str | Path,
    out: str | Path,
    merge: bool = True,
    base: str | None = None,
    eval_dir: str | Path | None = None,
) -> Path:
    """Write ``out`` (merged model, or the adapter itself) + processor + README.md model card; returns ``out``."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from emoreason.train.model import load_processor

    adapter, out = Path(adapter), Path(out)
    if out.exists() and any(out.iterdir()) and not (out / "README.md").is_file():
        raise EmoreasonError(f"--out {out} exists and is not an earlier export; choose a new folder")
    base = base or adapter_base(adapter)
    metrics = read_eval_metrics(eval_dir)  # fail early, before the slow merge
    processor_source = (
        str(adapter)
        if (adapter / "preprocessor_config.json").is_file() or (adapter / "processor_config.json").is_file()
        else base
    )
    processor = load_processor(processor_source)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if merge:
        try:
            model = AutoModelForImageTextToText.from_pretrained(
                base, dtype=torch.float32 if not torch.cuda.is_available() else "auto"
            )
        except (OSError, ValueError) as err:
            raise EmoreasonError(f"cannot load base model {base!r}: {err}. Pass --base with a local folder") from err
        merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        merged.save_pretrained(tmp)
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
    replace_dir(tmp, out)
    logger.info("exported %s (%s) to %s", adapter, "merged" if merge else "adapter", out)
    return out
