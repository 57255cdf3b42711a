"""The SnapTrade simulator of the sandbox process, as the SnapTrade integration tests look at it
(the ``snaptrade`` fixture of ``conftest.py``)."""

from __future__ import annotations

from provisioning.models import Connection
from provisioning.providers.snaptrade import SnapTradeClient


class SnapTradeSandbox:
    """The sandbox process's SnapTrade simulator and a portal connection pointing at it."""

    def __init__(self, control, connection: Connection):
        self.control = control
        self.connection = connection

    def users(self) -> list[str]:
        return self.control.state("snaptrade")["users"]

    def counter(self, route: str) -> dict[str, int]:
        """Answers by HTTP status of one route, e.g. ``counter("POST /snapTrade/registerUser")``."""
        return self.control.state("snaptrade")["counters"].get(route, {})

    def listed_by_snaptrade(self) -> list[str]:
        """``listUsers`` as our own client asks it (signed, over HTTP)."""
        return SnapTradeClient(self.connection).list_users()
