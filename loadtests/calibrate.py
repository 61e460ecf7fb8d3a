"""Calibration arithmetic over a load-test run: capacity, service time, observed use.

Reads the run directory (``summary.json``, ``steps.csv``) and returns a :class:`Measurement`;
:func:`calibrated_plan` writes it into a plan. Tariffs, reservations and the simulator comparison
need sim/ and are composed in ``msgfleet.calibration`` (loadtests does not import sim).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from loadtests.errors import LoadTestError
from loadtests.stats import DELIVERY, MESSAGE_PREFIX
from loadtests.summary import STEPS_CSV, read_csv, read_summary
from msgfleet.schema import SLO, Calibration, Plan

QUANTILES = {0.50: "p50_ms", 0.95: "p95_ms", 0.99: "p99_ms"}


@dataclass(frozen=True)
class ServiceTime:
    """The node as the simulator's queue sees it. Every request the node serves (a message or any other
    request of the mix) occupies it for a service time whose mean is the node's CPU time per request:
    the slope of a least-squares fit of each level's node CPU seconds on its requests and its duration
    (the intercept per second is the idle work: timers, pollers). Other requests per message come from
    the run itself. Without node CPU (remote targets) it falls back to a lognormal through the delivery
    latency quantiles at the lowest load (``basis`` says which)."""

    mean_ms: float
    cv: float
    requests_per_message: float
    basis: str
    users: int
    samples: int
    median_ms: float | None = None
    sigma: float | None = None


# No load test measures the spread of per-request CPU time; exponential (cv 1) is the textbook
# assumption for request service times (Kleinrock, Queueing Systems vol. 1, ch. 3; docs/SOURCES.md).
SERVICE_CV = 1.0


@dataclass(frozen=True)
class Level:
    """One measured load step: offered messages/s and the delivery p95 it saw."""

    users: int
    messages_per_s: float
    delivery_p95_ms: float | None
    error_rate: float
    passed: bool
    delivery_p95_ci_ms: tuple[float, float] | None = None  # distribution-free 95% interval of the p95


@dataclass(frozen=True)
class Measurement:
    run_dir: str
    nodes: int
    levels: list[Level]
    service_time: ServiceTime
    supported_users: int | None
    messages_per_s_at_slo: float
    delivery_p95_ms_at_slo: float | None
    messages_per_s_per_cpu: float | None
    saturated: bool
    """The load reached the SLO's limit (a knee was bracketed, or some step broke the SLO); if not,
    the rate at SLO is only a lower bound of what a node sustains."""
    active_user_hours: float
    messages_stored: float
    replies_stored: float | None  # None: the node does not meter it
    call_minutes: float | None

    @property
    def messages_per_s_per_pod(self) -> float:
        return self.messages_per_s_at_slo / self.nodes

    def pod_capacity(self, pod_cpu: float) -> tuple[float, str]:
        """Messages/s one pod of ``pod_cpu`` cores sustains, and what that figure rests on.

        A run that never reached the SLO's limit only bounds capacity from below; then the node's
        own CPU cost per message (messages stored per CPU-second, scraped from the nodes) scaled to
        the pod's cores is the better estimate when it is higher. Sizing adds the plan's headroom.
        """
        at_slo = self.messages_per_s_per_pod
        if self.saturated or not self.messages_per_s_per_cpu:
            return at_slo, "rate at the SLO"
        by_cpu = self.messages_per_s_per_cpu * pod_cpu
        if by_cpu > at_slo:
            return by_cpu, "node CPU per message (the load never reached the SLO)"
        return at_slo, "rate at the SLO (a lower bound: the load never reached the SLO)"

    def per_user_hour(self, amount: float | None) -> float | None:
        if amount is None or self.active_user_hours <= 0:
            return None
        return round(amount / self.active_user_hours, 3)

    @property
    def reply_ratio(self) -> float | None:
        """Replies per stored message, as the node metered them (``None`` if it does not)."""
        if self.replies_stored is None or self.messages_stored <= 0:
            return None
        return self.replies_stored / self.messages_stored


def fit_lognormal(quantiles: dict[float, float]) -> tuple[float, float]:
    """``(mu, sigma)`` of the lognormal whose quantiles best match, by least squares on
    ``ln q_p = mu + sigma z_p`` (z_p the standard normal quantile)."""
    points = [(p, q) for p, q in sorted(quantiles.items()) if q > 0]
    if len(points) < 2:
        raise LoadTestError(f"need two positive quantiles to fit a service time, got {quantiles}")
    z = norm.ppf([p for p, _ in points])
    y = np.log([q for _, q in points])
    if np.ptp(y) == 0:
        return float(y[0]), 0.0
    sigma, mu = np.polyfit(z, y, 1)
    return float(mu), float(max(sigma, 0.0))


def levels_of(steps: pd.DataFrame, slo: SLO) -> list[Level]:
    """Per step: messages/s sent, delivery p95, error rate and whether the SLO held."""
    levels = []
    for _, step in steps.groupby("step", sort=True):
        sends = step[step["name"].astype(str).str.startswith(MESSAGE_PREFIX) & (step["type"] != "ALL")]
        duration = float(step["end_s"].iloc[0] - step["start_s"].iloc[0]) or 1e-9
        sent = float((sends["requests"] - sends["failures"]).sum())
        delivery = step[(step["type"] == DELIVERY[0]) & (step["name"] == DELIVERY[1])]
        seen = delivery["p95_ms"].dropna()
        p95 = float(seen.iloc[0]) if len(seen) else None
        ci = None
        if p95 is not None and {"p95_low_ms", "p95_high_ms"} <= set(delivery.columns):
            low, high = delivery["p95_low_ms"].iloc[0], delivery["p95_high_ms"].iloc[0]
            ci = (float(low), float(high)) if pd.notna(low) and pd.notna(high) else None
        own = step[step["type"] != "ALL"]
        done = float(own["requests"].sum())
        errors = float(own["failures"].sum()) / done if done else 0.0
        passed = p95 is not None and p95 <= slo.delivery_p95_ms and errors <= slo.error_rate
        users = int(step["users"].iloc[0])
        levels.append(Level(users, round(sent / duration, 3), p95, round(errors, 6), passed, ci))
    return levels


def _served(step: pd.DataFrame) -> tuple[float, float, float]:
    """(requests the nodes served, messages sent, seconds) in one step; deliveries are not requests."""
    own = step[(step["type"] != "ALL") & ~((step["type"] == DELIVERY[0]) & (step["name"] == DELIVERY[1]))]
    sends = own[own["name"].astype(str).str.startswith(MESSAGE_PREFIX)]
    seconds = float(step["end_s"].iloc[0] - step["start_s"].iloc[0])
    return float(own["requests"].sum()), float(sends["requests"].sum()), seconds


def service_time_of(steps: pd.DataFrame) -> ServiceTime:
    """:class:`ServiceTime` from the steps' node CPU, or from low-load latency without it."""
    rows = []
    for _, step in steps.groupby("step", sort=True):
        cpu = step["node_cpu_s"].iloc[0] if "node_cpu_s" in step else None
        if cpu is not None and pd.notna(cpu):
            rows.append((*_served(step), float(cpu), float(step["users"].iloc[0])))
    table = np.array([r for r in rows if r[0] > 0], dtype=float).reshape(-1, 5)
    if len(table):
        requests, messages, seconds, cpu_s, users = table.T
        per_request = float(cpu_s.sum() / requests.sum())
        if len(table) >= 2:
            (slope, _idle), *_ = np.linalg.lstsq(np.column_stack([requests, seconds]), cpu_s)
            per_request = float(slope) if slope > 0 else per_request
        others = float(requests.sum() / max(messages.sum(), 1.0) - 1)
        return ServiceTime(
            mean_ms=round(1000 * per_request, 4),
            cv=SERVICE_CV,
            requests_per_message=round(max(others, 0.0), 4),
            basis="node CPU per request",
            users=int(users.min()),
            samples=int(requests.sum()),
        )
    low = steps[(steps["type"] == DELIVERY[0]) & (steps["name"] == DELIVERY[1]) & (steps["requests"] > 0)]
    if low.empty:
        raise LoadTestError("steps.csv has neither node CPU nor delivered messages to fit a service time on")
    row = low.sort_values(["users", "step"]).iloc[0]
    mu, sigma = fit_lognormal({p: float(row[c]) for p, c in QUANTILES.items() if pd.notna(row[c])})
    return ServiceTime(
        mean_ms=round(math.exp(mu + sigma**2 / 2), 4),
        cv=round(math.sqrt(math.expm1(sigma**2)), 4),
        requests_per_message=0.0,
        basis="delivery latency at low load (no node CPU measured)",
        users=int(row["users"]),
        samples=int(row["requests"]),
        median_ms=round(math.exp(mu), 4),
        sigma=round(sigma, 4),
    )


def measure(run_dir: str | Path, slo: SLO) -> Measurement:
    """Everything calibration takes from a run directory."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    steps = read_csv(run_dir, STEPS_CSV)
    levels = levels_of(steps, slo)
    knee = summary.get("knee")
    if knee and knee.get("supported_users"):
        supported: int | None = int(knee["supported_users"])
        rate, p95 = float(knee["messages_per_s_at_slo"]), knee.get("delivery_p95_ms_at_slo")
    else:
        good = [lv for lv in levels if lv.passed]
        if not good:
            worst = ", ".join(f"{lv.users} users: p95 {lv.delivery_p95_ms} ms" for lv in levels)
            raise LoadTestError(f"{run_dir}: no load step met the SLO ({worst})")
        best = max(good, key=lambda lv: lv.messages_per_s)
        supported, rate, p95 = (best.users if knee else None), best.messages_per_s, best.delivery_p95_ms
    server = summary["server"]["total"]
    cpu = float(server.get("cpu_seconds") or 0.0)
    stored = float(server.get("messages_stored") or 0.0)
    replies, minutes = server.get("replies_stored"), server.get("call_minutes")
    return Measurement(
        run_dir=str(run_dir),
        nodes=int(summary["nodes"]),
        levels=levels,
        service_time=service_time_of(steps),
        supported_users=supported,
        messages_per_s_at_slo=rate,
        delivery_p95_ms_at_slo=p95,
        messages_per_s_per_cpu=round(stored / cpu, 3) if cpu > 0 and stored > 0 else None,
        saturated=bool(knee and knee.get("converged")) or any(not lv.passed for lv in levels),
        active_user_hours=float(summary["active_user_hours"]),
        messages_stored=stored,
        replies_stored=None if replies is None else float(replies),
        call_minutes=None if minutes is None else float(minutes),
    )


def calibrated_plan(
    plan: Plan,
    m: Measurement,
    reserved_pods: dict[str, int] | None = None,
    sim_p95_max_error: float | None = None,
) -> Plan:
    """``plan`` with measured capacity, service time and reply ratio, and a ``calibration`` record."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    per_pod, basis = m.pod_capacity(plan.capacity.pod_cpu)
    capacity = plan.capacity.model_copy(
        update={
            "messages_per_s_per_pod": round(max(per_pod, 1e-6), 3),
            "service_time_ms_mean": max(m.service_time.mean_ms, 1e-3),
            "service_time_cv": m.service_time.cv,
            "requests_per_message": m.service_time.requests_per_message,
            "source": f"msgfleet calibrate, {m.run_dir}, {when}; per-pod capacity from {basis}",
        }
    )
    demand = plan.demand
    if m.reply_ratio is not None:  # only what the node metered replaces the plan's figure
        demand = demand.model_copy(update={"reply_ratio": round(min(m.reply_ratio, 1.0), 4)})
    record = Calibration(
        run=m.run_dir,
        nodes=m.nodes,
        supported_users=m.supported_users,
        messages_per_s_at_slo=m.messages_per_s_at_slo,
        messages_per_s_per_cpu=m.messages_per_s_per_cpu,
        delivery_p95_ms_at_slo=m.delivery_p95_ms_at_slo,
        messages_per_active_user_hour=m.per_user_hour(m.messages_stored) or 0.0,
        replies_per_active_user_hour=m.per_user_hour(m.replies_stored),
        call_minutes_per_active_user_hour=m.per_user_hour(m.call_minutes),
        sim_p95_max_error=sim_p95_max_error,
        reserved_pods=reserved_pods or {},
    )
    updated = plan.model_copy(update={"capacity": capacity, "demand": demand, "calibration": record})
    return Plan.model_validate(updated.model_dump())  # model_copy does not validate
