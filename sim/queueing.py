"""Erlang C and M/M/c formulas, and the offered traffic a number of channels carries.

Erlang B and the channels-for-grade-of-service inverse live in :mod:`msgfleet.sizing` (the one
sizing rule sim/ and infra/ share); this module builds on them. Hand-written because no well-kept
Python package ships them; each is a few lines from the references below.

References
----------
.. [1] ITU-T E.800-series / Iversen, "Teletraffic Engineering and Network Planning", DTU 2015,
       ch. 4 (Erlang B) and ch. 9 (Erlang C, M/M/c waiting time).
.. [2] Kleinrock, "Queueing Systems, Vol. 1", 1975, §3.5 (M/M/c).
"""

from __future__ import annotations

import math

from msgfleet.sizing import erlang_b
from sim.errors import SimError

__all__ = [
    "erlang_c",
    "mmc_mean_wait",
    "mmc_service_level",
    "traffic_for_channels",
]


def _check(traffic: float, channels: int) -> None:
    if traffic < 0:
        raise SimError(f"offered traffic must be >= 0 Erlang, got {traffic}")
    if channels < 0:
        raise SimError(f"channels must be >= 0, got {channels}")


def erlang_c(traffic: float, channels: int) -> float:
    """Probability that an arrival waits in M/M/c with ``traffic`` = λ/μ Erlangs (needs A < c).

    C = c·B / (c - A·(1 - B)) with B = Erlang B [1]_.
    """
    _check(traffic, channels)
    if traffic >= channels:
        raise SimError(f"M/M/c is unstable: traffic {traffic} Erlang >= {channels} servers")
    b = erlang_b(traffic, channels)
    return channels * b / (channels - traffic * (1 - b))


def mmc_mean_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean time in queue W_q = C(c, A) / (c·μ - λ) of M/M/c [2]_."""
    traffic = arrival_rate / service_rate
    return erlang_c(traffic, servers) / (servers * service_rate - arrival_rate)


def mmc_service_level(arrival_rate: float, service_rate: float, servers: int, wait: float) -> float:
    """P(W_q <= wait) = 1 - C·exp(-(c·μ - λ)·wait) of M/M/c [2]_."""
    traffic = arrival_rate / service_rate
    c = erlang_c(traffic, servers)
    return 1 - c * math.exp(-(servers * service_rate - arrival_rate) * wait)


def traffic_for_channels(channels: int, grade_of_service: float, tol: float = 1e-9) -> float:
    """Largest traffic (Erlang) ``channels`` carry at blocking ``grade_of_service`` (bisection)."""
    if channels < 1:
        raise SimError(f"channels must be >= 1, got {channels}")
    lo, hi = 0.0, float(channels) * 2 + 10
    while hi - lo > tol * max(1.0, hi):
        mid = (lo + hi) / 2
        if erlang_b(mid, channels) > grade_of_service:
            hi = mid
        else:
            lo = mid
    return lo
