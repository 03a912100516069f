"""A real uvicorn server on loopback per app, and the media the serve tests send."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from serve_helpers import running  # noqa: E402


@pytest.fixture(scope="session")
def start() -> Callable[..., Any]:
    """``with start(reasoner=None, **create_app_kwargs) as url:`` a fresh server (the rules backend by default)."""
    from emoreason.reasoning.rules import RuleReasoner
    from emoreason.serve.app import create_app

    def make(reasoner: Any = None, **kwargs: Any) -> Any:
        return running(create_app(reasoner or RuleReasoner(), **kwargs))

    return make


@pytest.fixture(scope="module")
def server(start: Callable[..., Any]) -> Iterator[str]:
    with start() as url:
        yield url


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 s face video (640x360, tone audio) from emoreason.testing.media."""
    from emoreason.testing import media as tm

    return tm.make_face_video(tmp_path_factory.mktemp("serve_video") / "clip.mp4", seconds=4.0, audio="tone")
