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
from loadtests.knee import FAIL, INSUFFICIENT, MIN_DELIVERIES, PASS, verdict
from loadtests.stats import DELIVERY, MESSAGE_PREFIX, SOCKET
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


# A breach while the nodes used less than this share of the CPUs they had is not the nodes' doing:
# the load generator or the machine (other tenants) held the messages up.
NODE_BUSY = 0.6
MAX_CPU_FIT_ERROR = 0.25  # relative standard error of CPU per message above which capacity is not trusted
MIN_MESSAGES = 30  # sends a step's CPU per message rests on
# A step serving this many times the estimate's messages per CPU-second means the cost per message is not
# one figure; steps of 30-100 messages scatter by about a third around it on a shared machine.
STEP_SPREAD = 1.5


@dataclass(frozen=True)
class Level:
    """One measured load step: offered messages/s, the delivery p95 it saw, its verdict and node CPU."""

    users: int
    messages_per_s: float
    delivery_p95_ms: float | None
    error_rate: float
    verdict: str  # loadtests.knee.verdict: pass, fail or insufficient
    delivery_p95_ci_ms: tuple[float, float] | None = None  # distribution-free 95% interval of the p95
    deliveries: int = 0
    seconds: float = 0.0
    messages: float = 0.0  # sent (successful msg:* requests)
    node_cpu_s: float | None = None
    generator_cpu_s: float | None = None
    node_wait_s: float | None = None  # the nodes' run-queue wait: time the machine kept them off a CPU

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    def node_cores(self) -> float | None:
        """CPU cores the nodes used together during the step."""
        return None if self.node_cpu_s is None or self.seconds <= 0 else self.node_cpu_s / self.seconds

    def generator_cores(self) -> float | None:
        """CPU cores the load generator used during the step."""
        cpu = self.generator_cpu_s
        return None if cpu is None or self.seconds <= 0 else cpu / self.seconds


@dataclass(frozen=True)
class Figure:
    """One calibrated figure: value, 95% interval (``None``: not estimable) and where it came from."""

    name: str
    value: float | None
    interval: tuple[float, float] | None
    source: str


@dataclass(frozen=True)
class Check:
    """One condition calibration writes a plan under."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class CpuCost:
    """Node CPU seconds per message sent, everything else of the mix included (:func:`cpu_cost`)."""

    per_message_s: float
    stderr_s: float | None
    steps: int

    @property
    def relative_error(self) -> float | None:
        return None if self.stderr_s is None else self.stderr_s / self.per_message_s


@dataclass(frozen=True)
class Measurement:
    run_dir: str
    nodes: int
    levels: list[Level]
    service_time: ServiceTime
    supported_users: int | None
    messages_per_s_at_slo: float
    delivery_p95_ms_at_slo: float | None
    cpu: CpuCost | None  # None: no node CPU measured (remote targets)
    node_cpus: int  # CPUs the nodes could use (pinned set, else the machine's)
    generator_cpus: int  # CPUs the load generator could use (pinned set, else the machine's)
    active_user_hours: float
    messages_stored: float
    replies_stored: float | None  # None: the node does not meter it
    calls_started: float | None
    calls_ended: float | None
    call_seconds: float | None

    @property
    def messages_per_s_per_pod(self) -> float:
        """The knee's (or best passing level's) messages/s per node process."""
        return self.messages_per_s_at_slo / self.nodes

    @property
    def messages_per_s_per_cpu(self) -> float | None:
        return None if self.cpu is None else 1 / self.cpu.per_message_s

    @property
    def cores_per_node(self) -> float:
        """CPU one node process could use: its share of the nodes' CPUs, at most one core (one process)."""
        return min(self.node_cpus / self.nodes, 1.0)

    def node_utilisation(self, level: Level) -> float | None:
        """The share of the nodes' usable CPU they used in ``level``."""
        cores = level.node_cores()
        return None if cores is None else cores / (self.cores_per_node * self.nodes)

    @property
    def first_breach(self) -> Level | None:
        failed = [lv for lv in self.levels if lv.verdict == FAIL]
        return min(failed, key=lambda lv: lv.messages_per_s) if failed else None

    @property
    def bottleneck(self) -> str:
        """``none`` (the SLO held), ``node`` or ``outside the node``, judged at the first breach."""
        breach = self.first_breach
        if breach is None:
            return "none"
        used = self.node_utilisation(breach)
        if used is None:
            return "unknown (no node CPU measured)"
        if used >= NODE_BUSY:
            return "node"
        generator = breach.generator_cores()
        if generator is not None and generator >= NODE_BUSY * self.generator_cpus:
            return "outside the node: the load generator"
        if breach.node_wait_s is not None and breach.node_wait_s >= (breach.node_cpu_s or 0.0):
            return "outside the node: the machine"  # the nodes waited for a CPU longer than they ran
        return "outside the node"

    def pod_capacity(self, pod_cpu: float) -> tuple[float, str]:
        """Messages/s one pod of ``pod_cpu`` cores serves with its CPU busy, and what it rests on.

        From the node's CPU per message under the mix (sizing's headroom then keeps pods at the plan's
        target utilisation, 1 / (1 + headroom)). When the SLO broke on a busy node, the knee scaled
        from the node's cores to the pod's bounds it too; a breach outside the node lowers nothing.
        Without node CPU, the knee per node is all there is.
        """
        if self.cpu is None:
            return self.messages_per_s_per_pod, f"knee per node ({self._no_cpu()})"
        by_cpu = pod_cpu / self.cpu.per_message_s
        if self.bottleneck == "node":
            by_knee = self.messages_per_s_per_pod / self.cores_per_node * pod_cpu
            if by_knee < by_cpu:
                return by_knee, "knee per node core (the SLO broke on busy nodes before their CPU ran out)"
        return by_cpu, f"node CPU per message ({self.cpu.steps} steps; SLO breach: {self.bottleneck})"

    def _no_cpu(self) -> str:
        if not any(lv.node_cpu_s for lv in self.levels):
            return "no node CPU measured (remote targets)"
        return f"no judged step with node CPU and >= {MIN_MESSAGES} messages sent"

    def per_user_hour(self, amount: float | None) -> float | None:
        if amount is None or self.active_user_hours <= 0:
            return None
        return round(amount / self.active_user_hours, 3)

    @property
    def first_messages(self) -> float:
        return self.messages_stored - (self.replies_stored or 0.0)

    @property
    def reply_ratio(self) -> float | None:
        """Replies per received (first) message, the schema's definition, from the node's counters."""
        if self.replies_stored is None or self.first_messages <= 0:
            return None
        return self.replies_stored / self.first_messages

    @property
    def call_minutes(self) -> float | None:
        """Minutes from the metered call seconds (not the tariff's rounded billable minutes)."""
        return None if self.call_seconds is None else self.call_seconds / 60

    def figures(self, pod_cpu: float) -> list[Figure]:
        """Every calibrated figure with its 95% interval and its source."""
        rows = []
        capacity, basis = self.pod_capacity(pod_cpu)
        ci = None
        if self.cpu and self.cpu.stderr_s is not None and self.cpu.per_message_s > 1.96 * self.cpu.stderr_s:
            low_s = self.cpu.per_message_s - 1.96 * self.cpu.stderr_s
            high_s = self.cpu.per_message_s + 1.96 * self.cpu.stderr_s
            ci = (
                round(capacity * self.cpu.per_message_s / high_s, 3),
                round(capacity * self.cpu.per_message_s / low_s, 3),
            )
        source = basis + ("; node CPU from /proc" if self.cpu else "")
        rows.append(Figure("messages/s per pod", round(capacity, 3), ci, source))
        if self.cpu:
            ms = 1000 * self.cpu.per_message_s
            err = None if self.cpu.stderr_s is None else 1000 * 1.96 * self.cpu.stderr_s
            rows.append(
                Figure(
                    "node CPU ms per message",
                    round(ms, 3),
                    None if err is None else (round(ms - err, 3), round(ms + err, 3)),
                    f"node CPU over messages sent, {self.cpu.steps} steps (node CPU from /proc)",
                )
            )
        best = max((lv for lv in self.levels if lv.passed), key=lambda lv: lv.messages_per_s, default=None)
        rows.append(
            Figure(
                "knee messages/s per node",
                round(self.messages_per_s_per_pod, 3),
                None,
                f"Locust: fastest step within the SLO ({best.deliveries if best else 0} deliveries)",
            )
        )
        if self.reply_ratio is not None:
            rows.append(
                Figure(
                    "reply ratio (replies per received message)",
                    round(self.reply_ratio, 4),
                    wilson(self.replies_stored or 0.0, self.first_messages),
                    "node counters msgfleet_replies_stored_total / first messages stored",
                )
            )
        minutes = self.per_user_hour(self.call_minutes)
        if minutes is not None:
            calls = self.calls_ended or 0.0
            half = 1.96 / math.sqrt(calls) if calls else None
            interval = (
                None
                if half is None
                else (round(minutes * max(1 - half, 0.0), 3), round(minutes * (1 + half), 3))
            )
            rows.append(
                Figure(
                    "call minutes per active user-hour",
                    minutes,
                    interval,
                    f"node counter msgfleet_call_seconds_total, {int(calls)} ended calls (Poisson)",
                )
            )
        rows.append(
            Figure(
                "service time ms (CPU per request)",
                self.service_time.mean_ms,
                None,
                f"{self.service_time.basis}, {self.service_time.samples} requests",
            )
        )
        return rows

    def checks(self, calls_placed: int) -> list[Check]:
        """The conditions this run's figures must meet before calibration writes a plan."""
        judged = [lv for lv in self.levels if lv.verdict != INSUFFICIENT]
        short = [lv.users for lv in self.levels if lv.verdict == INSUFFICIENT]
        samples = Check(
            "enough samples",
            len(judged) >= 2,
            f"{len(judged)} steps with a verdict (>= {MIN_DELIVERIES} deliveries or a settling interval)"
            + (f"; insufficient at {short} users" if short else ""),
        )
        if self.cpu is None:
            cpu = Check("capacity consistent with CPU", False, self._no_cpu())
        else:
            rel = self.cpu.relative_error
            ceiling = 1 / self.cpu.per_message_s
            over = [
                lv.users
                for lv in self.levels
                if lv.node_cpu_s
                and lv.messages >= MIN_MESSAGES
                and lv.messages / lv.node_cpu_s > STEP_SPREAD * ceiling
            ]
            ok = (rel is None or rel <= MAX_CPU_FIT_ERROR) and not over and self.cpu.steps >= 2
            cpu = Check(
                "capacity consistent with CPU",
                ok,
                f"CPU per message from {self.cpu.steps} steps, relative error "
                + ("n/a" if rel is None else f"{rel:.0%}")
                + f" (bar {MAX_CPU_FIT_ERROR:.0%})"
                + (f"; steps at {over} users served more per CPU-second than the fit allows" if over else ""),
            )
        placed = max(calls_placed, int(self.calls_started or 0))
        seconds = self.call_seconds or 0.0
        minutes = Check(
            "minutes > 0 when calls were made",
            placed == 0 or seconds > 0,
            f"{placed} calls placed, {seconds:.0f} call seconds metered",
        )
        within = [lv for lv in self.levels if lv.passed]
        slo = Check(
            "a step within the SLO",
            bool(within),
            f"{len(within)} of {len(self.levels)} steps passed"
            + ("" if within else ": " + ", ".join(f"{lv.users} users {lv.verdict}" for lv in self.levels)),
        )
        return [samples, slo, cpu, minutes]


def wilson(successes: float, trials: float, z: float = 1.96) -> tuple[float, float] | None:
    """Wilson score interval of a proportion (E. B. Wilson, JASA 22, 1927; docs/SOURCES.md)."""
    if trials <= 0:
        return None
    p = min(successes / trials, 1.0)
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return round(max(centre - half, 0.0), 4), round(min(centre + half, 1.0), 4)


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


def _step_cpu(step: pd.DataFrame, column: str = "node_cpu_s") -> float | None:
    cpu = step[column].iloc[0] if column in step else None
    return float(cpu) if cpu is not None and pd.notna(cpu) else None


def levels_of(steps: pd.DataFrame, slo: SLO) -> list[Level]:
    """Per step: messages/s sent, delivery p95 with its interval, error rate, verdict, node CPU."""
    levels = []
    for _, step in steps.groupby("step", sort=True):
        sends = step[step["name"].astype(str).str.startswith(MESSAGE_PREFIX) & (step["type"] != "ALL")]
        duration = float(step["end_s"].iloc[0] - step["start_s"].iloc[0]) or 1e-9
        sent = float((sends["requests"] - sends["failures"]).sum())
        delivery = step[(step["type"] == DELIVERY[0]) & (step["name"] == DELIVERY[1])]
        seen = delivery["p95_ms"].dropna()
        p95 = float(seen.iloc[0]) if len(seen) else None
        deliveries = int(delivery["requests"].sum()) if len(delivery) else 0
        ci = None
        if p95 is not None and {"p95_low_ms", "p95_high_ms"} <= set(delivery.columns):
            low, high = delivery["p95_low_ms"].iloc[0], delivery["p95_high_ms"].iloc[0]
            ci = (float(low), float(high)) if pd.notna(low) and pd.notna(high) else None
        own = step[step["type"] != "ALL"]
        done = float(own["requests"].sum())
        errors = float(own["failures"].sum()) / done if done else 0.0
        outcome, _ = verdict(deliveries, p95, ci, errors, slo)
        users = int(step["users"].iloc[0])
        levels.append(
            Level(
                users,
                round(sent / duration, 3),
                p95,
                round(errors, 6),
                outcome,
                ci,
                deliveries,
                duration,
                sent,
                _step_cpu(step),
                _step_cpu(step, "generator_cpu_s"),
                _step_cpu(step, "node_wait_s"),
            )
        )
    return levels


def cpu_cost(levels: list[Level]) -> CpuCost | None:
    """:class:`CpuCost` over the judged steps with node CPU and at least ``MIN_MESSAGES`` sends: all their
    node CPU over all their messages (idle work of connected devices included, so it errs towards
    less capacity), its standard error from the spread of the steps' own ratios; ``None`` without any.

    A ratio rather than a fit with an idle intercept: messages and seconds grow together over a run's
    steps, so the intercept and the slope trade off and the slope's error was ±50% on 4 steps."""
    rows = [
        (lv.messages, lv.node_cpu_s)
        for lv in levels
        if lv.node_cpu_s and lv.messages >= MIN_MESSAGES and lv.verdict != INSUFFICIENT
    ]
    if not rows:
        return None
    messages, cpu = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    ratios = cpu / messages
    stderr = float(ratios.std(ddof=1) / math.sqrt(len(rows))) if len(rows) >= 2 else None
    return CpuCost(float(cpu.sum() / messages.sum()), stderr, len(rows))


def _served(step: pd.DataFrame) -> tuple[float, float, float]:
    """(HTTP requests the nodes served, messages sent, seconds) in one step; socket events are no requests."""
    own = step[(step["type"] != "ALL") & (step["type"] != SOCKET)]
    sends = own[own["name"].astype(str).str.startswith(MESSAGE_PREFIX)]
    seconds = float(step["end_s"].iloc[0] - step["start_s"].iloc[0])
    return float(own["requests"].sum()), float(sends["requests"].sum()), seconds


def service_time_of(steps: pd.DataFrame) -> ServiceTime:
    """:class:`ServiceTime` from the steps' node CPU, or from low-load latency without it."""
    rows = []
    for _, step in steps.groupby("step", sort=True):
        if (cpu := _step_cpu(step)) is not None:
            rows.append((*_served(step), cpu, float(step["users"].iloc[0])))
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
    best = max((lv for lv in levels if lv.passed), key=lambda lv: lv.messages_per_s, default=None)
    server = summary["server"]["total"]
    affinity = summary.get("cpu_affinity") or {}
    nodes = int(summary["nodes"])
    machine = int(affinity.get("machine_cpus") or nodes)
    node_cpus = len(affinity.get("nodes") or []) or machine
    generator_cpus = len(affinity.get("load_generator") or []) or machine

    def counter(name: str) -> float | None:
        value = server.get(name)
        return None if value is None else float(value)

    return Measurement(
        run_dir=str(run_dir),
        nodes=nodes,
        levels=levels,
        service_time=service_time_of(steps),
        supported_users=best.users if knee and best else None,
        messages_per_s_at_slo=best.messages_per_s if best else 0.0,
        delivery_p95_ms_at_slo=best.delivery_p95_ms if best else None,
        cpu=cpu_cost(levels),
        node_cpus=node_cpus,
        generator_cpus=generator_cpus,
        active_user_hours=float(summary["active_user_hours"]),
        messages_stored=float(server.get("messages_stored") or 0.0),
        replies_stored=counter("replies_stored"),
        calls_started=counter("calls_started"),
        calls_ended=counter("calls_ended"),
        call_seconds=counter("call_seconds"),
    )


def calls_placed(run_dir: str | Path) -> int:
    """Calls the load generator started (Locust's successful ``call:start``)."""
    rows = read_summary(run_dir).get("per_request") or []
    return sum(int(r["requests"]) - int(r["failures"]) for r in rows if r["name"] == "call:start")


def calibrated_plan(
    plan: Plan,
    m: Measurement,
    reserved_pods: dict[str, int] | None = None,
    sim_p95_max_error: float | None = None,
) -> Plan:
    """``plan`` with measured capacity and service time, and a ``calibration`` record.

    ``demand.reply_ratio`` stays the plan's: the load generated it from that figure (the report
    shows what the node measured, as a check of the mix), so writing it back would be circular.
    """
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    per_pod, basis = m.pod_capacity(plan.capacity.pod_cpu)
    capacity = plan.capacity.model_copy(
        update={
            "messages_per_s_per_pod": max(round(per_pod, 3), 0.001),  # the schema wants > 0; checks say why
            "service_time_ms_mean": max(m.service_time.mean_ms, 1e-3),
            "service_time_cv": m.service_time.cv,
            "requests_per_message": m.service_time.requests_per_message,
            "source": f"msgfleet calibrate, {m.run_dir}, {when}; per-pod capacity from {basis}",
        }
    )
    per_cpu = m.messages_per_s_per_cpu
    record = Calibration(
        run=m.run_dir,
        nodes=m.nodes,
        supported_users=m.supported_users,
        messages_per_s_at_slo=m.messages_per_s_at_slo,
        messages_per_s_per_cpu=None if per_cpu is None else round(per_cpu, 3),
        delivery_p95_ms_at_slo=m.delivery_p95_ms_at_slo,
        messages_per_active_user_hour=m.per_user_hour(m.messages_stored) or 0.0,
        replies_per_active_user_hour=m.per_user_hour(m.replies_stored),
        call_minutes_per_active_user_hour=m.per_user_hour(m.call_minutes),
        sim_p95_max_error=sim_p95_max_error,
        reserved_pods=reserved_pods or {},
    )
    updated = plan.model_copy(update={"capacity": capacity, "calibration": record})
    return Plan.model_validate(updated.model_dump())  # model_copy does not validate
