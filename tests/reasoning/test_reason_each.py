"""The one batched-reasoning loop (reasoning.base.reason_each) and the three places that use it."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoreason.errors import EmoreasonError
from emoreason.reasoning.base import reason_each
from emoreason.reasoning.rules import RuleReasoner
from emoreason.schema import Evidence


class Picky(RuleReasoner):
    """The rules backend, except that it fails on any batch holding the Evidence "bad" and counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def reason(self, evidence):  # type: ignore[no-untyped-def]
        self.calls.append(len(evidence))
        if any(ev.id == "bad" for ev in evidence):
            raise RuntimeError("cannot read this one" if len(evidence) == 1 else "batch failed")
        return super().reason(evidence)


def _evidence(*ids: str) -> list[Evidence]:
    return [Evidence(id=i, aus={"AU6": 2.5, "AU12": 3.0}) for i in ids]


def test_a_failing_batch_is_retried_item_by_item_and_only_the_bad_item_fails() -> None:
    backend = Picky()
    out = reason_each(backend, _evidence("a", "bad", "c", "d"), batch_size=3)
    assert [type(o).__name__ for o in out] == ["Reasoning", "RuntimeError", "Reasoning", "Reasoning"]
    assert str(out[1]) == "cannot read this one" and out[0].label == "happiness"
    assert backend.calls == [3, 1, 1, 1, 1]  # the failed batch, its three items alone, then the last batch


def test_a_backend_that_returns_the_wrong_number_of_answers_is_an_error() -> None:
    class Short(RuleReasoner):
        def reason(self, evidence):  # type: ignore[no-untyped-def]
            return super().reason(evidence)[:-1]

    out = reason_each(Short(), _evidence("a", "b"), batch_size=2)
    assert all(isinstance(o, EmoreasonError) for o in out) and "returned 0 answers for 1 inputs" in str(out[0])


def test_images_video_and_eval_all_reason_through_it(
    monkeypatch: pytest.MonkeyPatch, face_photo: Path, tmp_path: Path
) -> None:
    """A second loop over ``reasoner.reason`` coming back in any of the three callers fails this test."""
    import emoreason.reasoning.base as base
    from emoreason.eval.runner import predict_split
    from emoreason.pipelines.image import analyze_paths
    from emoreason.pipelines.video import VideoPerception, reason_video

    seen: list[int] = []
    real = base.reason_each

    def counting(reasoner, evidence, batch_size=16):  # type: ignore[no-untyped-def]
        seen.append(len(evidence))
        return real(reasoner, evidence, batch_size)

    monkeypatch.setattr(base, "reason_each", counting)
    [image] = list(analyze_paths([face_photo], Picky()))
    assert image.status == "ok" and seen == [1]
    perception = VideoPerception(id="v", path="v.mp4", duration=2.0, evidence=_evidence("w1", "w2"))
    assert [s.label for s in reason_video(perception, Picky()).segments] == ["happiness", "happiness"]
    rows = [{"id": "r1", "aus": {"AU12": 3.0}, "label": "happiness"}, {"id": "bad", "aus": {"AU4": 3.0}}]
    assert predict_split(rows, Picky(), tmp_path / "p.jsonl", "basic") == 1
    assert seen == [1, 2, 2]


def test_an_image_whose_face_the_backend_fails_on_is_an_error_and_the_others_are_kept(face_photo: Path) -> None:
    from emoreason.pipelines.image import analyze_paths

    class FailsOnFirstPath(RuleReasoner):
        def reason(self, evidence):  # type: ignore[no-untyped-def]
            if any("first.jpg" in ev.id for ev in evidence):
                raise RuntimeError("boom")
            return super().reason(evidence)

    first = face_photo.with_name("first.jpg")
    first.write_bytes(face_photo.read_bytes())
    results = list(analyze_paths([first, face_photo], FailsOnFirstPath()))
    assert [r.status for r in results] == ["error", "ok"]
    assert results[0].error == "reasoner failed: RuntimeError: boom" and results[1].faces[0].label
