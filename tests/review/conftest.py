"""Review fixtures: a small dataset in the build-data row format (the toy emotions, images generated on the spot)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def toy_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from emoreason.testing.toy_emotions import save_toy_dataset

    return save_toy_dataset(tmp_path_factory.mktemp("review-data") / "toy", n_train=12, n_test=6)


@pytest.fixture()
def dataset(toy_source: Path, tmp_path: Path) -> Path:
    """A fresh copy of the toy dataset per test (a review writes beside it); its images stay shared."""
    out = tmp_path / "toy"
    shutil.copytree(toy_source, out)
    return out
