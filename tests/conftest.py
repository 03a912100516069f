"""Shared fixtures. Area-specific fixtures live in tests/<area>/conftest.py. Nothing here reaches the network."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU (none here)")
    run_slow = config.getoption("-m") and "slow" in config.getoption("-m")
    skip_slow = pytest.mark.skip(reason="slow tier: run with `pytest -m slow`")
    cuda = None
    for item in items:
        if "gpu" in item.keywords:
            cuda = _has_cuda() if cuda is None else cuda
            if not cuda:
                item.add_marker(skip_gpu)
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def face_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real photograph with one smiling face: scikit-image's bundled astronaut (Eileen Collins), as JPEG."""
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("photos") / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(path, quality=92)
    return path


@pytest.fixture(scope="session")
def no_face_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real photograph with no face: scikit-image's bundled coffee cup."""
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("photos") / "coffee.jpg"
    Image.fromarray(data.coffee()).save(path, quality=92)
    return path


@pytest.fixture(scope="session")
def five_faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five real faces in a row (the astronaut at different expressions: faces 2 and 5 open-mouthed, brows up)."""
    from PIL import Image

    from emoreason.testing.media import _face_variant

    tiles = [
        np.pad(_face_variant(level, 6, 256), ((40, 40), (20, 20), (0, 0)), constant_values=200)
        for level in (0, 5, 2, 0, 5)
    ]
    path = tmp_path_factory.mktemp("photos") / "five.jpg"
    Image.fromarray(np.concatenate(tiles, 1)).save(path, quality=92)
    return path


@pytest.fixture(autouse=True)
def _expression_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--expression-model`` sets $EMOREASON_EXPRESSION_MODEL for worker processes; CliRunner runs in this
    process, so each test starts (and ends) without it."""
    monkeypatch.delenv("EMOREASON_EXPRESSION_MODEL", raising=False)
