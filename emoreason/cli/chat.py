"""`emoreason chat` (being written; owned by one workstream)."""

from emoreason.errors import EmoreasonError


def chat() -> None:
    """Not available yet."""
    raise EmoreasonError("this command is not built yet")
