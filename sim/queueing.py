"""Erlang B, Erlang C and M/M/c formulas, and their inverses (channels, offered traffic).

Hand-written because no well-kept Python package ships them with a stable recursion; each is a
few lines from the references below.

References
----------
.. [1] ITU-T E.800-series / Iversen, "Teletraffic Engineering and Network Planning", DTU 2015,
       ch. 4 (Erlang B recursion, eq. 4.29) and ch. 9 (Erlang C, M/M/c waiting time).
.. [2] Kleinrock, "Queueing Systems, Vol. 1", 1975, §3.5 (M/M/c).
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
from scipy import special

from sim.errors import SimError

__all__ = [
    "busy_hour_erlangs",
    "channels_for_blocking",
    "channels_for_blocking_array",
    "erlang_b",
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


def erlang_b(traffic: float, channels: int) -> float:
    """Blocking probability of ``traffic`` Erlangs offered to ``channels`` (loss system M/M/c/c).

    Uses the recursion B(0) = 1, B(n) = A·B(n-1) / (n + A·B(n-1)), stable for any size [1]_.

    Examples
    --------
    >>> round(erlang_b(2.0, 3), 4)
    0.2105
    """
    _check(traffic, channels)
    b = 1.0
    for n in range(1, channels + 1):
        b = traffic * b / (n + traffic * b)
    return b


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


FloatOrArray = TypeVar("FloatOrArray", float, np.ndarray)


def busy_hour_erlangs(minutes_per_day: FloatOrArray, busy_hour_factor: float) -> FloatOrArray:
    """Busy-hour traffic in Erlangs: the busy hour's share of a day's minutes, over 60 minutes."""
    return minutes_per_day * busy_hour_factor / 60.0


def channels_for_blocking(traffic: float, grade_of_service: float) -> int:
    """Fewest channels whose Erlang-B blocking for ``traffic`` is at most ``grade_of_service``."""
    if not 0 < grade_of_service < 1:
        raise SimError(f"grade of service must be in (0, 1), got {grade_of_service}")
    _check(traffic, 0)
    b, n = 1.0, 0
    while b > grade_of_service:
        n += 1
        b = traffic * b / (n + traffic * b)
    return n


def channels_for_blocking_array(traffic: np.ndarray, grade_of_service: float) -> np.ndarray:
    """:func:`channels_for_blocking` for many traffic values at once, in O(log N) per value.

    Uses Erlang B = P(N) / P(X <= N) for X ~ Poisson(A) (Iversen 2015, eq. 4.10), evaluated in
    logs by scipy, and a vectorised bisection on N; the recursion would cost O(N) per value.
    """
    if not 0 < grade_of_service < 1:
        raise SimError(f"grade of service must be in (0, 1), got {grade_of_service}")
    a = np.asarray(traffic, dtype=float)
    if np.any(a < 0):
        raise SimError("offered traffic must be >= 0 Erlang")

    a = np.maximum(a, 1e-12)  # A = 0 needs one channel, as A -> 0 does

    def blocking(n: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", over="ignore"):
            log_pmf = n * np.log(a) - a - special.gammaln(n + 1)
            return np.exp(log_pmf - np.log(special.gammaincc(n + 1, a)))

    lo = np.zeros(a.shape)  # B(0) = 1 > grade of service
    hi = np.ceil(a + 10 * np.sqrt(a) + 10)
    while np.any(too_few := blocking(hi) > grade_of_service):
        hi = np.where(too_few, hi * 2, hi)
    while np.any(hi - lo > 1):
        mid = np.floor((lo + hi) / 2)
        ok = blocking(mid) <= grade_of_service
        hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid)
    return hi.astype(int)


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
