"""The one exception type for errors a user can cause. Its message says what to do."""


class EmoreasonError(Exception):
    """A user-facing error: bad path, unreadable media, missing model file, unknown label, bad config.

    The CLI prints ``str(err)`` on one line and exits non-zero; it never shows a traceback for these.
    """
