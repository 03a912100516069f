"""Adaptive sampling (``VideoOptions.sampling="adaptive"``): fewer landmarker runs, the runs fixed sampling finds."""

from __future__ import annotations

from pathlib import Path

import pytest

from emoreason import facs
from emoreason.perception import faces
from emoreason.pipelines import video_faces
from emoreason.pipelines.video_options import VideoOptions
from emoreason.pipelines.windows import label_runs
from emoreason.testing import media as tm


def _mouth_label(aus: dict[str, float], *_: object, **__: object) -> str:
    """A frame label that follows the generated face's mouth (wide open from about 1.25 s to 2.75 s of every 4 s):
    known onsets, whatever the face model makes of the astronaut's smile."""
    return "surprise" if facs.bilateral(aus).get(25, 0.0) >= 4.8 else "neutral"


def _pass(clip: Path, sampling: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, int]:
    calls = []
    real = faces.detect

    def counted(*args, **kwargs):  # noqa: ANN202 - the landmarker's result
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(faces, "detect", counted)
    series, _ = video_faces.faces_pass(clip, VideoOptions(sampling=sampling), [(0.0, 12.0)], [])
    monkeypatch.setattr(faces, "detect", real)
    return series, len(calls)


def _runs(s: object) -> list[tuple[str, float, float]]:
    return [(lab, s.times[a], s.times[b]) for lab, a, b in label_runs(s.labels)]  # type: ignore[attr-defined]


def test_adaptive_sampling_finds_the_runs_of_fixed_sampling_with_fewer_landmarker_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 12 s clip whose face opens its mouth every 4 s and is gone from 6.5 s to 8 s: every run of frame labels and
    every track that fixed sampling finds is found, their bounds within one sampled frame (0.25 s at 4 fps), and the
    landmarker runs far less often."""
    monkeypatch.setattr(video_faces, "frame_label", _mouth_label)
    clip = tm.make_face_video(tmp_path / "cycles.mp4", seconds=12.0, audio=None, hide=(6.5, 8.0))
    fixed, fixed_calls = _pass(clip, "fixed", monkeypatch)
    adaptive, adaptive_calls = _pass(clip, "adaptive", monkeypatch)
    assert len(fixed) == len(adaptive) == 2  # the face, and the face again after it was gone
    for a, b in zip((fixed[k] for k in sorted(fixed)), (adaptive[k] for k in sorted(adaptive)), strict=True):
        assert abs(a.times[0] - b.times[0]) <= 0.25 + 1e-6 and abs(a.times[-1] - b.times[-1]) <= 0.25 + 1e-6
        runs_fixed, runs_adaptive = _runs(a), _runs(b)
        assert [r[0] for r in runs_fixed] == [r[0] for r in runs_adaptive], (runs_fixed, runs_adaptive)
        for (_, s0, e0), (_, s1, e1) in zip(runs_fixed, runs_adaptive, strict=True):
            assert abs(s0 - s1) <= 0.25 + 1e-6 and abs(e0 - e1) <= 0.25 + 1e-6, (runs_fixed, runs_adaptive)
    assert len(_runs(fixed[min(fixed)])) >= 3  # the clip does change reading
    assert adaptive_calls <= 0.75 * fixed_calls, (adaptive_calls, fixed_calls)


def test_sampling_is_checked_on_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from emoreason.cli import app

    result = CliRunner().invoke(app, ["caption", str(tmp_path / "x.mp4"), "--sampling", "sparse"])
    assert result.exit_code == 2 and "'sparse' is not one of: fixed, adaptive" in result.output


def test_an_unknown_sampling_is_one_clear_error(tmp_path: Path) -> None:
    from emoreason.errors import EmoreasonError

    with pytest.raises(EmoreasonError, match="sampling 'sparse' is not one of: fixed, adaptive"):
        video_faces.faces_pass(tmp_path / "x.mp4", VideoOptions(sampling="sparse"), [(0.0, 1.0)], [])


def test_the_probes_thread_gives_the_readings_of_one_landmarker_thread(tmp_path: Path) -> None:
    """On a file the probes are found a stage ahead, in a thread with a landmarker of their own; frames handed in
    (``frames=``) are read in one thread with one landmarker. Both give the same series, frame for frame."""
    from emoreason.perception import media

    clip = tm.make_face_video(tmp_path / "face.mp4", seconds=6.0, audio=None, hide=(3.0, 4.0))
    options = VideoOptions(sampling="adaptive")
    threaded, _ = video_faces.faces_pass(clip, options, [(0.0, 3.0), (3.0, 6.0)], [])
    inline, _ = video_faces.faces_pass(
        None, options, [(0.0, 3.0), (3.0, 6.0)], [], frames=media.iter_frames(clip, options.fps, options.max_side)
    )
    assert sorted(threaded) == sorted(inline) and len(threaded) == 2
    for k in threaded:
        assert threaded[k].times == inline[k].times and threaded[k].labels == inline[k].labels
        assert threaded[k].keys == inline[k].keys and threaded[k].boxes == inline[k].boxes
        assert all((a == b).all() for a, b in zip(threaded[k].rows, inline[k].rows, strict=True))
