"""A FCFS server pool for SimPy models, kept as a heap of the times its servers become free.

Arrivals must be offered in time order (SimPy guarantees it when each arrival is handled at its
event time). Offering returns the departure time at once, so a message needs one timeout per hop
instead of request/release events -- the delay lives in the pool object, as in SimPy's ``Cable``
example -- which is what lets the latency model run at hundreds of thousands of messages per
second. Waiting times are exactly those of a FCFS M/G/c queue.
"""

from __future__ import annotations

import heapq

__all__ = ["Pool"]


class Pool:
    """``servers`` identical servers, one FCFS queue."""

    __slots__ = ("busy_s", "free_at", "servers")

    def __init__(self, servers: int) -> None:
        if servers < 1:
            raise ValueError(f"a pool needs at least one server, got {servers}")
        self.servers = servers
        self.free_at = [0.0] * servers
        self.busy_s = 0.0

    def offer(self, now: float, service_s: float) -> float:
        """Queue a job arriving at ``now`` needing ``service_s``; return its departure time."""
        start = self.free_at[0]
        if start < now:
            start = now
        done = start + service_s
        heapq.heapreplace(self.free_at, done)
        self.busy_s += service_s
        return done
