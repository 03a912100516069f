"""The /review page driven by keyboard in headless Chromium: 20 rows accepted, rejected, relabelled and edited,
with skips and going back, then the server's own record checked. Skipped where there is no Chromium (CI has none:
the route-level test, test_review_routes.py, runs there). ``EMOREASON_REVIEW_SCREENSHOT=PATH`` keeps a screenshot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from cdp import chromium_page, find_chromium
from serve_helpers import running

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="no Chromium here (CI has none); "
                                "tests/serve/test_review_routes.py covers the routes")  # fmt: skip

CTRL = 2  # CDP's modifier bit for Control


def test_review_twenty_rows_by_keyboard(tmp_path: Path) -> None:
    from emoreason.reasoning.rules import RuleReasoner
    from emoreason.review.export import export_review
    from emoreason.review.store import ReviewStore
    from emoreason.serve.app import create_app
    from emoreason.testing.toy_emotions import save_toy_dataset

    data = save_toy_dataset(tmp_path / "toy", n_train=22, n_test=4)
    with running(create_app(RuleReasoner(), review_dir=data)) as url, chromium_page(
        f"{url}/review", tmp_path / "profile"
    ) as page:
        page.wait("document.body.dataset.ready === '1' && document.body.dataset.row")
        plan: list[Any] = ["a", "r", ("l", "f"), "a", "e!", "s", "b", "a", "r", ("l", "a"),
                           "a", "a", "r", "e-", "a", ("l", "s"), "a", "r", "a", "a", "a", "a"]  # fmt: skip
        decided = 0
        for step in plan:
            before = page.eval("document.body.dataset.row + '|' + (document.body.dataset.decided || '0')")
            if step in ("s", "b"):
                page.key(step)
                page.wait(f"document.body.dataset.row + '|' + (document.body.dataset.decided || '0') !== {before!r}")
                continue
            if step == "e-":  # open the editor, then cancel it: nothing is saved
                page.key("e")
                page.wait("!document.getElementById('editor').classList.contains('hidden')")
                page.key("Escape")
                page.wait("document.getElementById('editor').classList.contains('hidden')")
                page.key("a")
            elif step == "e!":  # edit the CoT and save it with Ctrl+Enter
                page.key("e")
                page.wait("document.activeElement.id === 'cot-edit'")
                page.key("Enter", CTRL)
            elif isinstance(step, tuple):  # change the label: l, type its first letter, Enter
                page.key("l")
                page.wait("document.activeElement.id === 'new-label'")
                page.key(step[1])
                page.key("Enter")
            else:
                page.key(step)
            decided += 1
            page.wait(f"(document.body.dataset.decided || '0') === '{decided}'")
        assert decided == 20
        shot = Path(os.environ.get("EMOREASON_REVIEW_SCREENSHOT") or tmp_path / "review.png")
        page.screenshot(shot)
        assert shot.stat().st_size > 10_000
        status = page.eval("document.getElementById('status').className")
        assert status != "err", page.eval("document.getElementById('status').textContent")
    store = ReviewStore(data)
    (mine,) = store.decisions().values()
    assert len(mine) == 20  # twenty rows, each counted once (back-and-decide-again replaced, not added)
    actions = sorted(d["action"] for d in mine.values())
    assert actions.count("reject") == 4 and actions.count("correct") >= 4
    summary = export_review(data, tmp_path / "out")
    assert summary.counts["accepted"] + summary.counts["corrected"] == summary.reviewed_rows
    assert summary.pairs >= 1  # the relabel to fear always changes a toy row (the toy labels have no fear)
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
