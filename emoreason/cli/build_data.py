"""`emoreason build-data` (being written; owned by one workstream)."""

from emoreason.errors import EmoreasonError


def build_data() -> None:
    """Not available yet."""
    raise EmoreasonError("this command is not built yet")
