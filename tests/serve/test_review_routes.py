"""The /review routes over HTTP: rows, filters, images, decisions by owner, conflicts, bounds, auth, restarts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import _TOKENS, CLIENT, call, fetch, post_json, text

from emoreason.serve.limits import ServeLimits


@pytest.fixture(scope="module")
def toy_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from emoreason.testing.toy_emotions import save_toy_dataset

    return save_toy_dataset(tmp_path_factory.mktemp("review-serve") / "toy", n_train=10, n_test=4)


@pytest.fixture()
def dataset(toy_source: Path, tmp_path: Path) -> Path:
    out = tmp_path / "toy"
    shutil.copytree(toy_source, out)
    return out


def _decide(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, Any]:
    return post_json(f"{url}/v1/review/decisions", body, headers)


def test_review_rows_images_and_decisions(start: Any, dataset: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"  # keeps the token key: after a restart this client is the same reviewer
    with start(review_dir=dataset, state_dir=state) as url:
        status, page = text(f"{url}/review")
        assert status == 200 and "emoreason review" in page
        status, info = call(f"{url}/v1/review")
        assert status == 200 and info["rows"] == 14 and "anger" in info["labels"]
        status, listed = call(f"{url}/v1/review/rows?order=dataset&limit=5")
        assert listed["total"] == 14 and [r["n"] for r in listed["rows"]] == [0, 1, 2, 3, 4]
        status, angry = call(f"{url}/v1/review/rows?label=anger")
        assert angry["rows"] and all(r["label"] == "anger" for r in angry["rows"])
        status, row = call(f"{url}/v1/review/rows/0")
        assert status == 200 and row["cot"] and row["aus"] and row["rev"] == 0 and row["decision"] is None
        status, headers, body = fetch(f"{url}/v1/review/rows/0/image/0")
        assert status == 200 and headers["content-type"] == "image/jpeg" and body[:2] == b"\xff\xd8"

        status, done = _decide(url, {"id": row["id"], "action": "correct", "label": "fear", "base_rev": 0})
        assert status == 200 and done["decision"]["label"] == "fear" and done["row"]["rev"] == 1
        # the same row in a second tab, still showing revision 0: refused, not overwritten
        status, err = _decide(url, {"id": row["id"], "action": "accept", "base_rev": 0})
        assert status == 409 and "another tab" in err["detail"]
        status, err = _decide(url, {"id": row["id"], "action": "correct", "cot": " ", "base_rev": 1})
        assert status == 422 and "empty" in err["detail"]
        status, err = _decide(url, {"id": row["id"], "action": "correct", "label": "hungry"})
        assert status == 422 and "not a label" in err["detail"]
        status, err = _decide(url, {"id": "nope", "action": "accept"})
        assert status == 404
        status, undecided = call(f"{url}/v1/review/rows?status=undecided")
        assert undecided["total"] == 13
        # another client (another address: a token of its own) is another reviewer, with its own log
        status, _ = post_json(f"{url}/v1/review/decisions", {"id": row["id"], "action": "accept"}, source="127.0.0.2")
        assert status == 200
        token = _TOKENS[f"|{url}"]  # what a browser keeps as its cookie
    logs = sorted((dataset / ".review").glob("*.jsonl"))
    assert len(logs) == 2
    with start(review_dir=dataset, state_dir=state) as url:  # a restart: nothing lost, the decision still there
        status, row = call(f"{url}/v1/review/rows/0", headers={CLIENT: token})
        assert row["decision"]["label"] == "fear" and row["rev"] == 1 and row["others"] == 1


def test_review_honours_the_api_key_and_bounds(start: Any, dataset: Path, tmp_path: Path) -> None:
    from emoreason.serve.limits import AccessPolicy

    limits = ServeLimits(review_reviewers=1, review_cot_chars=200)
    with start(review_dir=dataset, access=AccessPolicy(api_keys=("k1", "k2")), limits=limits) as url:
        assert text(f"{url}/review")[0] == 200  # the page itself asks for the key
        assert call(f"{url}/v1/review")[0] == 401
        ok = {"Authorization": "Bearer k1"}
        status, rows = call(f"{url}/v1/review/rows?limit=201", headers=ok)
        assert status == 422  # at most MAX_LIST rows per request
        rid = call(f"{url}/v1/review/rows/0", headers=ok)[1]["id"]
        status, err = _decide(url, {"id": rid, "action": "correct", "cot": "x" * 201}, ok)
        assert status == 413 and "at most 200" in err["detail"]
        assert _decide(url, {"id": rid, "action": "accept"}, ok)[0] == 200
        status, err = _decide(url, {"id": rid, "action": "accept"}, {"Authorization": "Bearer k2"})
        assert status == 429 and "reviewers" in err["detail"]
    (log,) = (dataset / ".review").glob("*.jsonl")
    assert log.name.startswith("key-") and json.loads(log.read_text())["action"] == "accept"


def test_a_missing_image_and_no_review_are_clear(start: Any, dataset: Path) -> None:
    with start() as url:
        status, err = call(f"{url}/v1/review")
        assert status == 404 and "--review DIR" in err["detail"]
    with start(review_dir=dataset) as url:
        row = call(f"{url}/v1/review/rows/0")[1]
        from datasets import load_from_disk

        image = Path(load_from_disk(str(dataset))["train"][0]["images"][0])
        moved = image.with_suffix(".moved")
        image.rename(moved)
        try:
            status, err = call(f"{url}/v1/review/rows/0/image/0")
            assert status == 404 and "is gone" in err["detail"]
            assert call(f"{url}/v1/review/rows/0")[1]["media_missing"] == [image.name]
            assert _decide(url, {"id": row["id"], "action": "reject"})[0] == 200  # still decidable
        finally:
            moved.rename(image)


def test_not_a_dataset_fails_at_start(tmp_path: Path) -> None:
    from emoreason.errors import EmoreasonError
    from emoreason.reasoning.rules import RuleReasoner
    from emoreason.serve.app import create_app

    with pytest.raises(EmoreasonError, match="is not a dataset"):
        create_app(RuleReasoner(), review_dir=tmp_path)


def test_an_api_user_corrects_an_answer(start: Any, face_photo: Path, tmp_path: Path) -> None:
    from serve_helpers import multipart

    state = tmp_path / "state"
    with start(state_dir=state) as url:
        sid = call(f"{url}/v1/sessions", b"", {"Content-Type": "application/json"})[1]["session"]
        body, form = multipart([("file", "face.jpg", face_photo.read_bytes())])
        assert call(f"{url}/v1/sessions/{sid}/image", body, form)[0] == 200
        status, err = post_json(f"{url}/v1/sessions/{sid}/feedback", {"label": "fear"})
        assert status == 422 and "no answer to correct" in err["detail"]
        assert post_json(f"{url}/v1/sessions/{sid}/ask", {"question": "What emotion?"})[0] == 200
        status, err = post_json(f"{url}/v1/sessions/{sid}/feedback", {"label": "hungry"})
        assert status == 422 and "not a label" in err["detail"]
        status, done = post_json(f"{url}/v1/sessions/{sid}/feedback", {"label": "fear"})
        assert status == 200 and done["recorded"] and done["label"] == "fear"
    (log,) = (state / "feedback" / ".review").glob("*.jsonl")
    assert json.loads(log.read_text())["via"] == "api"
    assert len((state / "feedback" / "rows.jsonl").read_text().splitlines()) == 1
