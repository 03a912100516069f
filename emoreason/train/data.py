"""Training data: load a `build-data` DatasetDict, turn rows into the SFT and GRPO views, drop over-long samples.

Rows follow the row format of docs/architecture.md (``id, images, aus, transcript, prosody, label, labels, cot,
meta``), read as Evidence by ``emoreason.data_builders.rows.row_evidence``; the prompt text comes from
``emoreason.reasoning.prompts``.

- SFT view: ``messages`` = the user turn from the ONE prompt source (``prompts.build_messages``) + an assistant
  turn whose text is the row's ``cot``; ``images`` = the row's image paths.
- GRPO view: ``prompt`` = the same user turn; ``images``; gold columns ``label``, ``labels``, ``aus``,
  ``transcript`` for the rewards.

- DPO view: the preference pairs of ``emoreason review export`` (``prompt``, ``chosen``, ``rejected``, ``images``)
  are already TRL's format; ``dpo_view`` keeps those columns and decodes the images.

Image slots in the messages are placeholders (``{"type": "image"}``); TRL fills them from the ``images`` column,
so views stay plain Arrow data. Both take a ``datasets.Dataset`` (or a list of row dicts)."""

from __future__ import annotations

import logging
from typing import Any

from emoreason.errors import EmoreasonError

logger = logging.getLogger(__name__)


def load_rows(path: str, split: str) -> Any:
    """One split of a saved DatasetDict (or a saved Dataset, which counts as its only split)."""
    from datasets import Dataset, DatasetDict, load_from_disk

    try:
        data = load_from_disk(path)
    except (FileNotFoundError, ValueError) as err:
        raise EmoreasonError(f"cannot load dataset {path}: {err} (build one with `emoreason build-data`)") from err
    if isinstance(data, Dataset):
        return data
    assert isinstance(data, DatasetDict)
    if split not in data:
        raise EmoreasonError(f"dataset {path} has no split {split!r}; it has: {', '.join(data)}")
    return data[split]


def has_split(path: str, split: str | None) -> bool:
    from datasets import DatasetDict, load_from_disk

    if not split:
        return False
    data = load_from_disk(path)
    return isinstance(data, DatasetDict) and split in data


def _cast_images(ds: Any) -> Any:
    """Image paths become decoded images (TRL's collators want PIL images)."""
    from datasets import Image, List

    feature = ds.features.get("images")
    if feature is not None and getattr(getattr(feature, "feature", None), "dtype", None) == "string":
        ds = ds.cast_column("images", List(Image()))
    return ds


def _limit_images(ds: Any, max_images: int | None) -> Any:
    if not max_images or "images" not in ds.column_names:
        return ds
    return ds.map(lambda row: {"images": list(row["images"] or [])[:max_images]})


def _plain(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with image payloads replaced by placeholders and text parts as ``{"type": "text", "text": ...}``."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts = [{"type": "text", "text": content}]
        else:
            parts = [
                {"type": "image", "text": None} if part.get("type") == "image" else
                {"type": "text", "text": str(part.get("text", ""))}
                for part in content or []
            ]  # fmt: skip
        out.append({"role": message["role"], "content": parts})
    return out


def user_turn(row: dict[str, Any], label_set: str = "compound") -> list[dict[str, Any]]:
    """The prompt messages for one row, from the one prompt source."""
    from emoreason.data_builders.rows import row_evidence
    from emoreason.reasoning.prompts import build_messages

    return _plain(build_messages(row_evidence(row, label_set)))


def _sft_row(row: dict[str, Any], label_set: str) -> dict[str, Any]:
    assistant = {"role": "assistant", "content": [{"type": "text", "text": row["cot"]}]}
    return {"messages": user_turn(row, label_set) + [assistant], "images": list(row.get("images") or [])}


def _grpo_row(row: dict[str, Any], label_set: str) -> dict[str, Any]:
    return {"prompt": user_turn(row, label_set), "images": list(row.get("images") or [])}


def _apply(rows: Any, fn: Any, keep: tuple[str, ...], label_set: str) -> Any:
    from datasets import Dataset

    if not isinstance(rows, Dataset):
        return [{**{k: r.get(k) for k in keep}, **fn(r, label_set)} for r in rows]
    drop = [c for c in rows.column_names if c not in keep and c != "images"]
    return rows.map(lambda r: fn(r, label_set), remove_columns=drop)


def sft_view(rows: Any, label_set: str = "compound", max_images: int | None = None) -> Any:
    """Rows -> ``{"messages": [user, assistant(cot)], "images": [...]}`` (a Dataset gets decoded images, at most
    ``max_images`` each; a list of row dicts stays a list)."""
    return _finish_view(_apply(rows, _sft_row, (), label_set), max_images)


def grpo_view(rows: Any, label_set: str = "compound", max_images: int | None = None) -> Any:
    """Rows -> ``{"prompt": [user], "images": [...], "label", "labels", "aus", "transcript"}``."""
    from emoreason.data_builders.rows import GOLD_COLUMNS

    return _finish_view(_apply(rows, _grpo_row, GOLD_COLUMNS, label_set), max_images)


def dpo_view(rows: Any, label_set: str = "compound", max_images: int | None = None) -> Any:
    """Preference pairs -> ``{"prompt", "chosen", "rejected", "images"}`` (the prompt was rendered at export)."""
    from datasets import Dataset

    missing = [c for c in ("prompt", "chosen", "rejected") if c not in rows.column_names]
    if missing:
        raise EmoreasonError(
            f"the dataset has no {', '.join(missing)} column: DPO trains on preference pairs; make them with "
            "`emoreason review export DATASET --out DIR` and pass --dataset_path DIR/pairs"
        )
    assert isinstance(rows, Dataset)
    keep = ("prompt", "chosen", "rejected", "images")
    view = rows.select_columns([c for c in keep if c in rows.column_names])
    if max_images and "images" in view.column_names:
        view = view.map(lambda row: {"prompt": _keep_images(row["prompt"], max_images)})
    return _finish_view(view, max_images)


def _keep_images(messages: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """Messages with only their first ``n`` image slots (the images column is cut to the same ``n``)."""
    out, seen = [], 0
    for message in messages:
        parts = []
        for part in message["content"]:
            if part.get("type") == "image":
                seen += 1
                if seen > n:
                    continue
            parts.append(part)
        out.append({**message, "content": parts})
    return out


def _finish_view(view: Any, max_images: int | None) -> Any:
    return view if isinstance(view, list) else _cast_images(_limit_images(view, max_images))


def prompt_length(processor: Any, messages: list[dict[str, Any]], images: list[Any]) -> int:
    """Tokens the model sees for these messages and images, image tokens included."""
    from trl.data_utils import prepare_multimodal_messages

    text = processor.apply_chat_template(prepare_multimodal_messages(messages, images=images), tokenize=False)
    encoded = processor(text=[text], images=[images] if images else None, return_tensors="pt")
    return int(encoded["input_ids"].shape[1])


def drop_long(ds: Any, processor: Any, column: str, max_tokens: int | None) -> Any:
    """Drop (never truncate: that would cut image tokens) samples whose ``column`` renders longer than max_tokens."""
    if not max_tokens:
        return ds
    before = len(ds)
    ds = ds.filter(lambda row: prompt_length(processor, row[column], row.get("images") or []) <= max_tokens)
    if len(ds) < before:
        logger.warning("dropped %d of %d samples longer than %d tokens", before - len(ds), before, max_tokens)
    if len(ds) == 0:
        raise EmoreasonError(f"every sample is longer than {max_tokens} tokens; raise the length limit")
    return ds


def setup_splits(config: Any, processor: Any, view: Any, column: str, max_tokens: int | None) -> tuple[Any, Any]:
    """Train and eval datasets in one training view (``sft_view`` / ``grpo_view``), over-long rows dropped.

    The eval split is loaded only while evaluation is on; when it is missing, evaluation is switched off with a
    warning rather than failing the run.
    """
    assert config.dataset_path is not None
    rows = load_rows(config.dataset_path, config.dataset_train_split)
    if config.max_train_samples:
        rows = rows.select(range(min(config.max_train_samples, len(rows))))
    train = drop_long(view(rows, config.label_set, config.max_images), processor, column, max_tokens)
    if config.eval_strategy == "no":  # IntervalStrategy is a str enum
        return train, None
    if not has_split(config.dataset_path, config.dataset_test_split):
        from transformers.trainer_utils import IntervalStrategy

        logger.warning("no %r split in %s: evaluation is off", config.dataset_test_split, config.dataset_path)
        config.eval_strategy = IntervalStrategy.NO
        return train, None
    test_rows = load_rows(config.dataset_path, config.dataset_test_split)
    return train, drop_long(view(test_rows, config.label_set, config.max_images), processor, column, max_tokens)
