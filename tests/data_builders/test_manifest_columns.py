"""Issue 27 item 3: a README-style ``path,label`` manifest: the missing split is said once and eval scores the one
split it has; absolute paths give short ids, not ``_tmp_media_45-m7-di-ph``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from emoreason.data_builders.base import Context, Sample
from emoreason.data_builders.registry import get_source


def _samples(manifest: Path) -> list[Sample]:
    return [s for s in get_source("manifest").iter_samples(Context(manifest)) if isinstance(s, Sample)]


def test_ids_from_absolute_paths_and_the_missing_split_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    media = tmp_path / "tmp" / "newcomer" / "media"
    (tmp_path / "photos").mkdir()
    manifest = tmp_path / "photos" / "mine.csv"
    rows = [f"{media / '45-m7-di-ph.jpg'},disgust", f"{media / 'other' / '45-m7-di-ph.jpg'},anger",
            f"{tmp_path / 'photos' / 'sub' / 'a.jpg'},happy", "b.jpg,sad"]  # fmt: skip
    manifest.write_text("path,label\n" + "\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="emoreason.data_builders.manifest"):
        samples = _samples(manifest)
    assert [s.id for s in samples] == ["45-m7-di-ph", "45-m7-di-ph_line3", "sub_a", "b"]
    assert {s.split for s in samples} == {"train"}
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "goes into 'train'; add a split column" in said[0], said
