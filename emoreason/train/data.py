"""Training data: load a `build-data` DatasetDict, turn rows into the SFT and GRPO views, drop over-long samples.

Rows follow the row format of docs/architecture.md (``id, images, aus, transcript, prosody, label, labels, cot,
meta``). The views come from ``emoreason.data_builders.views``; the prompt text comes from
``emoreason.reasoning.prompts``."""

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


def _views() -> Any:
    try:
        from emoreason.data_builders import views
    except ImportError as err:
        raise EmoreasonError(f"this install has no dataset views ({err}); reinstall emoreason") from err
    return views


def sft_view(rows: Any, label_set: str = "compound", max_images: int | None = None) -> Any:
    """Rows -> ``{"messages": [user, assistant(cot)], "images": [...]}``."""
    view = _views().sft_view
    return _cast_images(_limit_images(view(rows, label_set=label_set), max_images))


def grpo_view(rows: Any, label_set: str = "compound", max_images: int | None = None) -> Any:
    """Rows -> ``{"prompt": [user], "images": [...], "label", "labels", "aus"}``."""
    view = _views().grpo_view
    return _cast_images(_limit_images(view(rows, label_set=label_set), max_images))


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
