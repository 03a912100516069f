"""Caption inputs: files, directories (searched recursively for videos), globs and manifests -> items.

Manifests: ``.txt``/``.list`` one path a line (``#`` comments), ``.csv`` with a ``path`` (or ``video``/``file``)
column, ``.jsonl`` with ``path``/``video``; optional ``id``. Relative paths are relative to the manifest.
"""

from __future__ import annotations

import csv
import glob
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from emoreason.errors import EmoreasonError
from emoreason.perception.media import VIDEO_EXTENSIONS

logger = logging.getLogger(__name__)

MANIFEST_EXTENSIONS = (".txt", ".csv", ".jsonl", ".list")


@dataclass
class Item:
    id: str
    path: str


def _manifest(path: Path) -> list[Item]:
    base = path.parent
    items: list[Item] = []

    def add(p: str, id_: str | None = None) -> None:
        full = Path(p).expanduser()
        full = full if full.is_absolute() else base / full
        items.append(Item(id=id_ or str(full.resolve()), path=str(full)))

    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise EmoreasonError(f"{path}, line {n}: not JSON ({err.msg})") from err
                p = row.get("path") or row.get("video") if isinstance(row, dict) else None
                if not p:
                    raise EmoreasonError(f"{path}, line {n}: needs a 'path' (or 'video') field")
                add(str(p), row.get("id"))
    elif path.suffix == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        col = next((c for c in ("path", "video", "file") if rows and c in rows[0]), None)
        if col is None:
            raise EmoreasonError(f"{path}: a CSV manifest needs a 'path' (or 'video') column")
        for row in rows:
            if row[col]:
                add(row[col], row.get("id") or None)
    else:
        for line in text.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                add(line.strip())
    return items


def files_in(folder: Path, suffixes: tuple[str, ...] | set[str] | frozenset[str]) -> list[Path]:
    """The files under ``folder`` (recursively) whose suffix is one of ``suffixes``, in name order: how caption reads
    a folder of videos and analyze a folder of photos."""
    return sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)


def expand_inputs(inputs: list[str]) -> list[Item]:
    """Files, directories, globs and manifests -> items in a stable order, duplicates dropped."""
    items: list[Item] = []
    for raw in inputs:
        p = Path(raw).expanduser()
        if p.is_dir():
            found = files_in(p, VIDEO_EXTENSIONS)
            if not found:
                logger.warning("%s: no video files found", p)
            items += [Item(str(f.resolve()), str(f)) for f in found]
        elif p.is_file() and p.suffix.lower() in MANIFEST_EXTENSIONS:
            items += _manifest(p)
        elif p.is_file() or not any(ch in raw for ch in "*?["):
            items.append(Item(str(p.resolve()), str(p)))  # a missing file becomes a per-item error
        else:
            matches = sorted(glob.glob(str(p), recursive=True))
            if not matches:
                raise EmoreasonError(f"{raw}: the pattern matches no files")
            items += [Item(str(Path(m).resolve()), m) for m in matches if Path(m).is_file()]
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.id not in seen:
            seen.add(item.id)
            unique.append(item)
    return unique
