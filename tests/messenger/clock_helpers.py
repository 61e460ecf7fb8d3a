"""A node's development clock and sweeps (``/v1/dev/clock``, ``/v1/dev/sweep/...``, docs/API.md) for tests.

Time-dependent behaviour is tested by moving the node's clock on and running the sweep in question, not by
sleeping until a timer fires: the answer does not depend on how busy the machine is (issue 17).
"""

from __future__ import annotations

from typing import Any

import httpx

# The dev clock on, and the background sweeps an hour of real time apart, so that only a test's explicit
# ``sweep`` acts on what its ``advance`` aged.
CLOCK_ENV = {
    "MSGFLEET_DEV_CLOCK": "true",
    "MSGFLEET_CALL_SWEEP_SECONDS": "3600",
    "MSGFLEET_RETENTION_INTERVAL_SECONDS": "3600",
    "MSGFLEET_EVENT_PRUNE_INTERVAL_SECONDS": "3600",
}


class DevClock:
    """The clock of the node at ``url`` (every worker shares it)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=120) as http:
            response = await http.request(method, path, **kwargs)
        assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
        body: dict[str, Any] = response.json()
        return body

    async def now(self) -> float:
        """The node's time (UNIX seconds)."""
        return float((await self._call("GET", "/v1/dev/clock"))["now"])

    async def advance(self, seconds: float) -> float:
        """Move the node's clock on by ``seconds``; returns the node's new time."""
        return float((await self._call("POST", "/v1/dev/clock", json={"advance_seconds": seconds}))["now"])

    async def sweep(self, kind: str) -> dict[str, Any]:
        """Run one pass of the ``kind`` sweep (calls, reminders, retention, events) to completion."""
        return await self._call("POST", f"/v1/dev/sweep/{kind}")
