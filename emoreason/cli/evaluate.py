"""`emoreason evaluate` (being written; owned by one workstream)."""

from emoreason.errors import EmoreasonError


def evaluate() -> None:
    """Not available yet."""
    raise EmoreasonError("this command is not built yet")
