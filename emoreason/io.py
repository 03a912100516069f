"""Writing outputs safely: atomic file writes, and the resumable JSONL log that long jobs append to.

Atomic writes (:func:`atomic_path`, :func:`atomic_write_text` / ``_bytes`` / ``_json``, :func:`atomic_dir`): the
content goes to a temporary file in the target's folder, is fsynced, then renamed over the target, so a reader sees
the old file or the new one, never half of one; on an error the temporary file is removed and the old file stays.

:class:`JsonlLog` (caption, eval, synth and build-data outputs): one JSON object a line, each append flushed and
fsynced, so a kill loses at most the record being written. Opening it resumes: the ids already written are in
``log.done``, a torn last line (an interrupted write) is cut off, or kept when it is a whole record that only lacks
its newline. A damaged line anywhere else is never dropped silently: opening refuses and names the line.
:func:`check_settings` stores the settings that change the outputs beside them (with their hash) and refuses a
resume made with different ones, so one output never mixes two configurations.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError

logger = logging.getLogger(__name__)

_UMASK = os.umask(0)
os.umask(_UMASK)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------- atomic writes
@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; on success it is fsynced and renamed over ``path``.

    The temporary name keeps ``path``'s extension, so savers that choose the format by it (matplotlib, Pillow)
    work. On an error (or Ctrl-C) it is removed and ``path`` keeps its old content.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; an output gets the usual permissions
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | Path, data: Any, indent: int | None = 2, **dumps: Any) -> Path:
    """Write ``data`` as JSON to ``path`` atomically; ``dumps`` go to :func:`json.dumps` (``default=str``, ...)."""
    return atomic_write_text(path, json.dumps(data, indent=indent, **dumps))


def replace_dir(tmp: str | Path, path: str | Path) -> None:
    """Put the finished folder ``tmp`` in ``path``'s place: the old one is moved aside, ``tmp`` renamed in, then the
    old one deleted, so ``path`` is always a whole folder (old or new) except between two renames."""
    tmp, path = Path(tmp), Path(path)
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    if old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """An empty temporary folder beside ``path``; on success it replaces ``path`` (:func:`replace_dir`), on an error
    it is deleted and ``path`` is left as it was."""
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o777 & ~_UMASK)
        yield tmp
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---------------------------------------------------------------------------------------------- settings
def settings_fingerprint(settings: dict[str, Any]) -> str:
    """A short hash of the settings (key order does not matter).

    >>> settings_fingerprint({"a": 1, "b": None}) == settings_fingerprint({"b": None, "a": 1})
    True
    """
    text = json.dumps(settings, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def check_settings(path: str | Path, settings: dict[str, Any], output: str | Path, restart: str) -> None:
    """Refuse to resume ``output`` when it was made with other ``settings``; the first run writes them to ``path``.

    ``path`` holds ``{"fingerprint", "settings"}`` (a file holding a bare settings dict, from an older version, is
    read as its settings). A setting the stored file lacks (recorded only by a newer version) is not compared, and
    the file is rewritten with all of them. ``restart`` says what to do instead, e.g. "use another --out or delete
    it".
    """
    path = Path(path)
    fingerprint = settings_fingerprint(settings)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {"fingerprint": fingerprint, "settings": settings}, default=str)
        return
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        stored = None
    if not isinstance(stored, dict):
        raise EmoreasonError(f"{path} is not a settings file written by emoreason; delete it to resume {output}")
    old = stored["settings"] if isinstance(stored.get("settings"), dict) and "fingerprint" in stored else stored
    if settings_fingerprint(old) == fingerprint:
        return
    unrecorded = set(settings) - set(old)  # settings an older version did not store: unknown, so not compared
    recorded = {k: v for k, v in settings.items() if k in old}
    if unrecorded and settings_fingerprint(recorded) == settings_fingerprint(old):
        atomic_write_json(path, {"fingerprint": fingerprint, "settings": settings}, default=str)
        return
    changed = [k for k in sorted(set(old) | set(settings), key=str) if k in old and old.get(k) != settings.get(k)]
    said = ", ".join(f"{k}: {old.get(k)!r} then, {settings.get(k)!r} now" for k in changed)
    raise EmoreasonError(f"{output} was made with different settings ({said}); {restart}")


# ---------------------------------------------------------------------------------------------- the log
class JsonlLog:
    """An append-only JSONL output that resumes: ``log.done`` holds the ids (``key``, as strings) already in it.

    Opening scans the file once: blank lines are kept, a torn last line is cut off (or completed with its newline
    when it is a whole record), and any other line that is not a JSON object with a non-null ``key`` raises an
    :class:`EmoreasonError` naming it. Appends are flushed and fsynced; the file is opened on the first one.
    """

    def __init__(self, path: str | Path, key: str = "id"):
        self.path = Path(path)
        self.key = key
        self.done: set[str] = set()
        self.count = 0
        self._fh: Any = None
        if self.path.is_file():
            self._scan()

    def _record(self, line: bytes) -> dict[str, Any] | None:
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(obj, dict) or obj.get(self.key) is None:
            return None
        return obj

    def _scan(self) -> None:
        good_end, torn = 0, b""
        with open(self.path, "rb") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    good_end += len(line)
                    continue
                record = self._record(line)
                if not line.endswith(b"\n"):
                    torn = line if record is None else b""
                    if record is None:
                        break
                elif record is None:
                    raise EmoreasonError(
                        f"{self.path}, line {number}: not a JSON record with an {self.key!r} (the file was edited or "
                        "damaged); fix or delete that line, then run again to resume"
                    )
                self.done.add(str(record[self.key]))
                self.count += 1
                good_end += len(line)
        size = self.path.stat().st_size
        if torn:
            logger.warning("%s: dropping a partial last line (%d bytes) from an interrupted run", self.path, len(torn))
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
                os.fsync(fh.fileno())
        elif good_end == size and size and not self._ends_with_newline():
            with open(self.path, "ab") as fh:  # a whole last record that lost only its newline
                fh.write(b"\n")
                os.fsync(fh.fileno())

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    def __contains__(self, key: object) -> bool:
        return str(key) in self.done

    def append(self, record: dict[str, Any], sync: bool = True) -> None:
        """Write one record (one line), then flush and fsync (``sync=False``: flush only; call :meth:`sync`)."""
        self.extend([record], sync)

    def extend(self, records: Iterable[dict[str, Any]], sync: bool = True) -> None:
        """Write records (one line each), then flush, and fsync once unless ``sync`` is False.

        A flushed record survives a kill of the process; the fsync makes it survive a crash of the machine too.
        """
        records = list(records)
        if not records:
            return
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        self._fh.flush()
        if sync:
            os.fsync(self._fh.fileno())
        self.done.update(str(r[self.key]) for r in records)
        self.count += len(records)

    def sync(self) -> None:
        """fsync what was appended with ``sync=False``."""
        if self._fh is not None:
            os.fsync(self._fh.fileno())

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record in the file, in order (blank lines skipped)."""
        if not self.path.is_file():
            return
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)

    def close(self) -> None:
        if self._fh is not None:
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def __enter__(self) -> JsonlLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
