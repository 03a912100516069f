"""The server's state folder (``--state-dir``): what outlives a restart, and where uploads live while in use.

- ``secret``: the key that signs client tokens (:mod:`emoreason.serve.owners`), so a client keeps its jobs.
- ``jobs/ID.json``: each caption job, written atomically when it is queued and when it ends (result, evidence and
  face crops included), and read back at start; a job that was queued or running when the server died comes back
  as an error.
- ``uploads/``: one folder per request or job; emptied at start (what is there belonged to a server that died)
  and at shutdown.

A ``lock`` file (flock) keeps two servers off one folder. Without ``--state-dir`` (``create_app``'s default) the
folder is a temporary one, removed at shutdown.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.io import atomic_path, atomic_write_text

logger = logging.getLogger(__name__)


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/emoreason/serve`` (``~/.local/state/emoreason/serve``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "emoreason" / "serve"


class StateFolder:
    """The state folder of one running server (see the module docstring)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.temporary = path is None
        self.path = Path(tempfile.mkdtemp(prefix="emoreason-serve-state-")) if path is None else Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.path / "lock", "a")  # noqa: SIM115 - held until close()
        except OSError as err:
            raise EmoreasonError(f"--state-dir {self.path}: cannot use it ({err.strerror}); pass another") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise EmoreasonError(
                f"--state-dir {self.path} is in use by another emoreason serve; pass another --state-dir"
            ) from None
        self.uploads, self.jobs = self.path / "uploads", self.path / "jobs"
        shutil.rmtree(self.uploads, ignore_errors=True)  # a dead server's uploads
        self.uploads.mkdir()
        self.jobs.mkdir(exist_ok=True)

    def secret(self) -> bytes:
        """The token-signing key, made on first use (readable by this user only)."""
        path = self.path / "secret"
        if path.is_file() and len(path.read_bytes()) == 32:
            return path.read_bytes()
        with atomic_path(path) as tmp:
            tmp.write_bytes(secrets.token_bytes(32))
            tmp.chmod(0o600)
        return path.read_bytes()

    def upload_folder(self) -> Path:
        """A new private folder for one request's (or job's) uploads."""
        return Path(tempfile.mkdtemp(prefix="up-", dir=self.uploads))

    def save_job(self, record: dict[str, Any], crops: dict[str, bytes]) -> None:
        """Write one job's record (and its face crops) atomically."""
        data = {**record, "crops": {k: base64.b64encode(v).decode() for k, v in crops.items()}}
        atomic_write_text(self.jobs / f"{record['id']}.json", json.dumps(data))

    def load_jobs(self) -> list[tuple[dict[str, Any], dict[str, bytes]]]:
        """Every stored job as (record, crops), oldest first; unreadable files are logged and skipped."""
        out = []
        for path in self.jobs.glob("*.json"):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                crops = {k: base64.b64decode(v) for k, v in data.pop("crops", {}).items()}
            except (OSError, ValueError) as err:
                logger.warning("%s: unreadable job record (%s); skipped", path, err)
                continue
            out.append((data, crops))
        return sorted(out, key=lambda item: item[0].get("created", 0))

    def delete_job(self, job_id: str) -> None:
        (self.jobs / f"{job_id}.json").unlink(missing_ok=True)

    def close(self) -> None:
        """At shutdown: remove the uploads (and a temporary folder), let go of the lock."""
        shutil.rmtree(self.uploads, ignore_errors=True)
        if self.temporary:
            shutil.rmtree(self.path, ignore_errors=True)
        self._lock.close()
