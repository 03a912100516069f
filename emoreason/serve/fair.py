"""Fair shares of what the server holds per client (chat sessions, open requests): one rule for both.

A holder is an API key, or for keyless clients their address as well as their token (tokens cost nothing to get, so
an address is what one keyless client cannot multiply cheaply). A holder may take one more of ``total`` slots only
while it is under its own cap and more slots stay free than it already holds. So ``n`` greedy holders stop near
``total / (n + 1)`` each and the rest stays open: a newcomer, holding none, gets a slot while any is free, and 16
addresses can no longer fill the server and lock everyone else out. What a holder cannot take, it can only free
from its own (its oldest idle session), never from another holder.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def may_take(held: int, used: int, total: int, own_cap: int) -> bool:
    """Whether a holder of ``held`` slots may take one more, with ``used`` of ``total`` taken by everyone.

    >>> may_take(0, 255, 256, 16), may_take(15, 240, 256, 16), may_take(16, 16, 256, 16), may_take(5, 252, 256, 16)
    (True, True, False, False)
    """
    return held < own_cap and total - used > held


def address_holder(address: str) -> str:
    """The holder name of a client address (beside owner ids, which start ``key-`` or ``client-``)."""
    return f"address-{address}"


@dataclass
class OpenRequests:
    """Requests open at once (being read, waiting, answered or streaming) per holder, under :func:`may_take` against
    ``total``. Used on the event loop only, so it needs no lock."""

    total: int
    own_cap: int
    held: dict[str, int] = field(default_factory=dict)
    used: int = 0

    def take(self, holder: str) -> bool:
        """Whether ``holder`` may open one more request (then it is counted until :meth:`release`)."""
        if not may_take(self.held.get(holder, 0), self.used, self.total, self.own_cap):
            return False
        self.held[holder] = self.held.get(holder, 0) + 1
        self.used += 1
        return True

    def release(self, holder: str) -> None:
        left = self.held.get(holder, 0) - 1
        if left > 0:
            self.held[holder] = left
        else:
            self.held.pop(holder, None)
        self.used -= 1
