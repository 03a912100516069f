"""The `>>>` examples in the eval modules' docstrings run and are correct (each metric documents its formula)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "emoreason.eval.metrics",
    "emoreason.eval.bootstrap",
    "emoreason.eval.consistency",
    "emoreason.eval.temporal",
    "emoreason.eval.ov",
    "emoreason.eval.attribution",
    "emoreason.eval.report",
    "emoreason.modalities",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 2, f"{name} has too few examples"
    assert result.failed == 0


def test_every_public_metric_has_an_example() -> None:
    from emoreason.eval import metrics

    public = [getattr(metrics, n) for n in dir(metrics) if not n.startswith("_") and callable(getattr(metrics, n))]
    functions = [f for f in public if getattr(f, "__module__", "") == metrics.__name__ and not isinstance(f, type)]
    missing = [f.__name__ for f in functions if ">>>" not in (f.__doc__ or "")]
    assert not missing, f"metrics without a >>> example: {missing}"
