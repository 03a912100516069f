"""`emoreason analyze` (being written; owned by one workstream)."""

from emoreason.errors import EmoreasonError


def analyze() -> None:
    """Not available yet."""
    raise EmoreasonError("this command is not built yet")
