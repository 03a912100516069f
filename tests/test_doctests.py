"""The `>>>` examples in the core modules' docstrings are executable and correct."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "emoreason.labels",
    "emoreason.facs",
    "emoreason.text",
    "emoreason.reasoning.parser",
    "emoreason.reasoning.rules",
    "emoreason.pipelines.windows",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
