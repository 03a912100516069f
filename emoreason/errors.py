"""The one exception type for errors a user can cause. Its message says what to do."""

from __future__ import annotations

import os


class EmoreasonError(Exception):
    """A user-facing error: bad path, unreadable media, missing model file, unknown label, bad config.

    The CLI prints ``str(err)`` on one line and exits non-zero; it never shows a traceback for these.
    """


def about(path: str | os.PathLike[str], message: object) -> str:
    """``"<path>: <message>"`` for a per-file error, unless the message already names the path.

    Our own loaders, Pillow (``cannot identify image file 'x.jpg'``) and PyAV (``Invalid data ...: 'x.mp4'``) put
    the path in the message already; prefixing it again printed it twice. Use this wherever a file's error is shown.
    """
    text, name = str(message), os.fspath(path)
    return text if name and name in text else f"{name}: {text}"
