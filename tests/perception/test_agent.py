"""The image agent: order, batching, a failing backend, and the formats that must just work end to end."""

from __future__ import annotations

from pathlib import Path

from emoreason.pipelines.image import ImageOptions, analyze_image, analyze_paths, perceive_image
from emoreason.reasoning.base import needs_images
from emoreason.reasoning.rules import RuleReasoner
from emoreason.schema import Evidence, Reasoning


class Recorder:
    """A backend that records its batches and looks at images."""

    name = "recorder"

    def __init__(self) -> None:
        self.batches: list[list[Evidence]] = []

    def reason(self, evidence: list[Evidence]) -> list[Reasoning]:
        self.batches.append(evidence)
        return [Reasoning(raw="<answer>neutral</answer>", label="neutral") for _ in evidence]


class Broken:
    name = "broken"

    def reason(self, evidence: list[Evidence]) -> list[Reasoning]:
        raise ConnectionError("server went away")


def test_results_keep_input_order_and_faces_are_batched(face_photo: Path, no_face_photo: Path) -> None:
    backend = Recorder()
    paths = [face_photo, no_face_photo, face_photo, Path("/no/such.jpg"), face_photo]
    results = list(analyze_paths(paths, backend, batch_size=2))
    assert [r.status for r in results] == ["ok", "no_face", "ok", "error", "ok"]
    assert [len(b) for b in backend.batches] == [2, 1]
    evidence = backend.batches[0][0]
    assert evidence.images and evidence.images[0].size == (336, 336)  # a model backend gets the aligned crop
    assert "AU12" in evidence.au_text and evidence.label_set == "compound"


def test_a_failing_backend_is_reported_per_image(face_photo: Path, no_face_photo: Path) -> None:
    results = list(analyze_paths([face_photo, no_face_photo], Broken()))
    assert results[0].status == "error" and "server went away" in results[0].error
    assert results[1].status == "no_face"


def test_rules_backend_skips_crops_and_names_a_label(face_photo: Path) -> None:
    reasoner = RuleReasoner()
    assert not needs_images(reasoner) and needs_images(Recorder())
    result = analyze_image(face_photo, reasoner)
    assert result.status == "ok" and result.faces[0].label in ("happiness", "happily surprised", "happily disgusted")
    assert result.faces[0].format_ok


def test_must_just_work_formats_find_the_face(formats: dict[str, Path], exif_rotated: Path, face_photo: Path) -> None:
    reference = perceive_image(face_photo)[0].box
    for path in [formats[k] for k in ("cmyk_jpeg", "gray16_png", "rgb48_png", "rgba_png", "gray_jpeg")] + [
        exif_rotated
    ]:
        faces = perceive_image(path, ImageOptions())
        assert len(faces) == 1, path
        assert all(abs(a - b) < 12 for a, b in zip(faces[0].box, reference, strict=True)), path


def test_several_faces_all_reported(two_faces: Path) -> None:
    result = analyze_image(two_faces, RuleReasoner())
    assert result.status == "ok" and len(result.faces) == 2
