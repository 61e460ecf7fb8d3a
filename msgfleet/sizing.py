"""One sizing rule for the planner (sim/) and the provisioner (infra/): busy-hour load → capacity.

A site's busy-hour load (:class:`msgfleet.schema.SiteLoad`: the messages/s it handles and the call
Erlangs its users offer) sizes it, with the plan's ``capacity``, ``calls`` and ``infra`` figures:

* node pods = clamp(⌈messages/s · (1 + headroom) / messages_per_s_per_pod⌉, min_pods, max_pods);
* TURN channels = the fewest N with Erlang B(A · (1 + headroom), N) ≤ calls.grade_of_service;
* TURN relays = max(1, ⌈N / min(turn_channels_per_relay, relay ports)⌉) (an allocation holds one
  relay port; every live site can place calls);
* CPU / memory = pods × pod size + relays × the TURN relay's size;
* a site the next phase opens is reserved for its load in that phase's first year (the caller
  picks the load): its node pods and its TURN relays are sized separately, each by the rule above,
  and held as node-sized placeholder pods holding their CPU and memory together (one placeholder
  shape); a calibrated plan's ``calibration.reserved_pods[state]`` wins.

Where the load comes from is the caller's business: sim/ computes it with the gravity model
(``sim.traffic``) and writes it into ``infra.design_load``, which infra/ reads;
:func:`flat_share_load` is the fallback from a user count alone. docs/SIM.md documents the rule.

Erlang B is hand-written: no well-kept Python package ships it with a stable recursion, and it is
a few lines from the references.

References
----------
.. [1] Iversen, "Teletraffic Engineering and Network Planning", DTU 2015, ch. 4 (Erlang B
       recursion, eq. 4.29; B = P(N) / P(X <= N) for X ~ Poisson(A), eq. 4.10).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from msgfleet.errors import MsgfleetError
from msgfleet.schema import Demand, Plan, SiteLoad

__all__ = [
    "TURN_CPU",
    "TURN_MEMORY_MIB",
    "Reservation",
    "SiteSize",
    "Sizes",
    "SizingError",
    "call_erlangs",
    "channels_for_blocking",
    "channels_for_blocking_array",
    "channels_per_relay",
    "erlang_b",
    "flat_share_load",
    "messages_sent_per_s",
    "reservation",
    "size_loads",
    "size_site",
]

TURN_CPU = 0.5
"""CPU cores requested per coturn relay: a starting figure to be replaced by a TURN load test."""
TURN_MEMORY_MIB = 256
"""Memory per coturn relay (coturn keeps ~a few KiB per allocation; 256 MiB holds thousands)."""

FloatOrArray = TypeVar("FloatOrArray", float, np.ndarray)


class SizingError(MsgfleetError, ValueError):
    """A sizing input that cannot be used (negative traffic, grade of service outside (0, 1))."""


def _check(traffic: float, channels: int) -> None:
    if traffic < 0:
        raise SizingError(f"offered traffic must be >= 0 Erlang, got {traffic}")
    if channels < 0:
        raise SizingError(f"channels must be >= 0, got {channels}")


def _check_gos(grade_of_service: float) -> None:
    if not 0 < grade_of_service < 1:
        raise SizingError(f"grade of service must be in (0, 1), got {grade_of_service}")


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


def channels_for_blocking(traffic: float, grade_of_service: float) -> int:
    """Fewest channels whose Erlang-B blocking for ``traffic`` is at most ``grade_of_service``."""
    _check_gos(grade_of_service)
    _check(traffic, 0)
    b, n = 1.0, 0
    while b > grade_of_service:
        n += 1
        b = traffic * b / (n + traffic * b)
    return n


def channels_for_blocking_array(traffic: ArrayLike, grade_of_service: float) -> np.ndarray:
    """:func:`channels_for_blocking` for many traffic values at once, in O(log N) per value.

    Uses Erlang B = P(N) / P(X <= N) for X ~ Poisson(A) [1]_, evaluated in logs by scipy, and a
    vectorised bisection on N; the recursion would cost O(N) per value.
    """
    _check_gos(grade_of_service)
    a = np.asarray(traffic, dtype=float)
    if np.any(a < 0):
        raise SizingError("offered traffic must be >= 0 Erlang")

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


def messages_sent_per_s(demand: Demand, users: FloatOrArray) -> FloatOrArray:
    """Busy-hour messages/s sent by ``users`` (first messages and replies)."""
    return users * demand.messages_per_user_day * (1 + demand.reply_ratio) * demand.busy_hour_factor / 3600


def call_erlangs(demand: Demand, users: FloatOrArray) -> FloatOrArray:
    """Busy-hour call traffic of ``users`` in Erlangs: the busy hour's call minutes over 60 minutes."""
    return users * demand.call_minutes_per_user_day * demand.busy_hour_factor / 60


def flat_share_load(plan: Plan, users: float) -> SiteLoad:
    """The load of a site homing ``users`` without a traffic model: its users' messages, plus a
    federated copy of the ``cross_state_share`` that crosses states (as many in as out)."""
    sent = messages_sent_per_s(plan.demand, float(users))
    return SiteLoad(
        messages_per_s=sent * (1 + plan.demand.cross_state_share),
        erlangs=call_erlangs(plan.demand, float(users)),
    )


def channels_per_relay(plan: Plan) -> int:
    """Channels one relay holds: ``turn_channels_per_relay``, at most one per relay port."""
    low, high = plan.infra.turn_relay_ports
    return min(plan.capacity.turn_channels_per_relay, high - low + 1)


@dataclass(frozen=True)
class Sizes:
    """The rule applied to arrays of loads (same shape: sites, or days × sites)."""

    needed_pods: np.ndarray  # before clamping to [min_pods, max_pods]
    pods: np.ndarray
    turn_channels: np.ndarray
    turn_relays: np.ndarray
    cpu: np.ndarray
    memory_mib: np.ndarray


def size_loads(plan: Plan, messages_per_s: ArrayLike, erlangs: ArrayLike) -> Sizes:
    """Pods, TURN channels, relays, CPU and memory for busy-hour loads (the rule, vectorised)."""
    cap = plan.capacity
    load = np.asarray(messages_per_s, dtype=float)
    # the epsilon keeps an exact multiple of the per-pod rate from rounding up through float error
    needed = np.ceil(load * (1 + cap.headroom) / cap.messages_per_s_per_pod - 1e-9).astype(int)
    pods = np.clip(needed, cap.min_pods, cap.max_pods)
    offered = np.asarray(erlangs, dtype=float) * (1 + cap.headroom)
    channels = channels_for_blocking_array(offered, plan.calls.grade_of_service)
    relays = np.maximum(1, -(-channels // channels_per_relay(plan)))
    return Sizes(
        needed_pods=needed,
        pods=pods,
        turn_channels=channels,
        turn_relays=relays,
        cpu=pods * cap.pod_cpu + relays * TURN_CPU,
        memory_mib=pods * cap.pod_memory_mib + relays * TURN_MEMORY_MIB,
    )


@dataclass(frozen=True)
class SiteSize:
    """The capacity one state's site needs for its busy-hour load."""

    state: str
    load: SiteLoad
    pods: int
    max_pods: int
    pod_cpu: float
    pod_memory_mib: int
    turn_channels: int
    turn_relays: int
    cpu: float  # node pods and TURN relays together
    memory_mib: int
    over_capacity: bool  # needs more than capacity.max_pods


def size_site(plan: Plan, state: str, load: SiteLoad) -> SiteSize:
    """Size ``state``'s site for ``load``."""
    z = size_loads(plan, [load.messages_per_s], [load.erlangs])
    cap = plan.capacity
    return SiteSize(
        state=state,
        load=load,
        pods=int(z.pods[0]),
        max_pods=cap.max_pods,
        pod_cpu=cap.pod_cpu,
        pod_memory_mib=cap.pod_memory_mib,
        turn_channels=int(z.turn_channels[0]),
        turn_relays=int(z.turn_relays[0]),
        cpu=float(z.cpu[0]),
        memory_mib=int(z.memory_mib[0]),
        over_capacity=bool(z.needed_pods[0] > cap.max_pods),
    )


@dataclass(frozen=True)
class Reservation:
    """Placeholder capacity held for a site that opens in ``phase`` (node-sized pods).

    ``node_pods`` and ``turn_relays`` are what the site needs (sized separately); ``pods`` is how
    many node-sized placeholders hold their CPU and memory together.
    """

    state: str
    phase: int
    node_pods: int
    turn_relays: int
    pods: int
    pod_cpu: float
    pod_memory_mib: int
    cpu: float
    memory_mib: int
    turn_channels: int


def reservation(plan: Plan, phase: int, size: SiteSize) -> Reservation:
    """What to hold for ``size.state``, which opens in ``phase``, sized for its load then."""
    measured = plan.calibration.reserved_pods if plan.calibration else {}
    # the epsilon keeps an exact multiple of the pod size from rounding up through float error
    holds = max(math.ceil(size.cpu / size.pod_cpu - 1e-9), math.ceil(size.memory_mib / size.pod_memory_mib))
    pods = measured.get(size.state, holds)
    return Reservation(
        state=size.state,
        phase=phase,
        node_pods=size.pods,
        turn_relays=size.turn_relays,
        pods=pods,
        pod_cpu=size.pod_cpu,
        pod_memory_mib=size.pod_memory_mib,
        cpu=pods * size.pod_cpu,
        memory_mib=pods * size.pod_memory_mib,
        turn_channels=size.turn_channels,
    )
