"""Eval fixtures: a tiny dataset in the build-data row format, saved with ``DatasetDict.save_to_disk``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# (gold label, AUs or None, gender). The rule engine reads: happiness, sadness, contempt, neutral (AU12 at 2.0 is
# too weak), neutral, happiness (a smile labelled sad), anger, neutral (fear with no AU coding).
TOY_ROWS: list[tuple[str, dict[str, float] | None, str]] = [
    ("happiness", {"AU6": 2.5, "AU12": 3.2}, "female"),
    ("sadness", {"AU1": 2.0, "AU15": 2.5, "AU4": 1.2}, "male"),
    ("contempt", {"AU14L": 3.0, "AU14R": 0.5}, "female"),
    ("happiness", {"AU12": 2.0}, "male"),
    ("neutral", {"AU4": 0.4}, "female"),
    ("sadness", {"AU6": 2.5, "AU12": 3.2}, "male"),
    ("anger", {"AU4": 3.0, "AU7": 2.5, "AU23": 2.2}, "female"),
    ("fear", None, "male"),
]


def toy_rows() -> list[dict[str, Any]]:
    from emoreason.reasoning.rules import explain

    rows = []
    for i, (label, aus, gender) in enumerate(TOY_ROWS):
        transcript = "I am so glad you came." if i == 0 else ""
        rows.append(
            {
                "id": f"toy{i}",
                "images": [],
                "aus": aus,
                "transcript": transcript,
                "prosody": "",
                "label": label,
                "labels": [label],
                "cot": explain(aus or {}, label=label, transcript=transcript).text,
                "meta": {"source": "toy", "split": "test", "subject": f"p{i}", "gender": gender, "race": None},
            }
        )
    return rows


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DatasetDict with train (2 rows) and test (8 rows) splits, as `emoreason build-data` saves it."""
    from datasets import Dataset, DatasetDict
    from datasets.utils import disable_progress_bars

    disable_progress_bars()
    rows = toy_rows()
    path = tmp_path_factory.mktemp("toy") / "dataset"
    DatasetDict({"train": Dataset.from_list(rows[:2]), "test": Dataset.from_list(rows)}).save_to_disk(str(path))
    return path
