"""Cumulative request statistics and the windows between two of them (no Locust import).

Locust keeps, per (request type, name), a count of requests, of failures and a histogram of
response times rounded as in ``locust.stats`` (ms → count). A :class:`Snapshot` copies those;
the difference of two snapshots is what happened in between (one load step). Locust's own
"current" percentiles are over a fixed 10 s window, which cannot follow our step boundaries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

Key = tuple[str, str]  # (request type, name), e.g. ("WS", "deliver"), ("POST", "msg:private")

SOCKET = "WS"  # request type of socket events (connect, deliver, deliver:channel): not HTTP requests
DELIVERY: Key = (SOCKET, "deliver")
MESSAGE_PREFIX = "msg:"  # names of requests that send one message


@dataclass(frozen=True)
class Entry:
    """Counts of one request key; ``histogram`` maps response time (ms, rounded) → count."""

    requests: int = 0
    failures: int = 0
    histogram: Mapping[int, int] = field(default_factory=dict)

    def minus(self, earlier: Entry) -> Entry:
        hist = {ms: n - earlier.histogram.get(ms, 0) for ms, n in self.histogram.items()}
        return Entry(
            self.requests - earlier.requests,
            self.failures - earlier.failures,
            {ms: n for ms, n in hist.items() if n > 0},
        )


@dataclass(frozen=True)
class Snapshot:
    """Cumulative statistics at run time ``time`` (s) with ``users`` running."""

    time: float
    users: int
    entries: Mapping[Key, Entry]
    node_cpu_s: float | None = None  # CPU seconds used so far by the nodes (local fleet only)
    generator_cpu_s: float | None = None  # CPU seconds used so far by Locust (this process and its workers)
    node_wait_s: float | None = None  # seconds the nodes waited, runnable, for a CPU (/proc schedstat)

    def minus(self, earlier: Snapshot) -> Window:
        empty = Entry()
        cpu = _grown(self.node_cpu_s, earlier.node_cpu_s)
        return Window(
            start=earlier.time,
            end=self.time,
            users=self.users,
            entries={k: e.minus(earlier.entries.get(k, empty)) for k, e in self.entries.items()},
            node_cpu_s=cpu,
            generator_cpu_s=_grown(self.generator_cpu_s, earlier.generator_cpu_s),
            node_wait_s=_grown(self.node_wait_s, earlier.node_wait_s),
        )


def _grown(now: float | None, then: float | None) -> float | None:
    return None if now is None or then is None else now - then


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """The smallest recorded value with at least ``q`` (0..1) of the counts at or below it."""
    total = sum(histogram.values())
    if total == 0:
        return None
    need = q * total
    seen = 0
    for ms in sorted(histogram):
        seen += histogram[ms]
        if seen >= need:
            return float(ms)
    return float(max(histogram))


def quantile_interval(histogram: Mapping[int, int], q: float, z: float = 1.96) -> tuple[float, float] | None:
    """A distribution-free ~95% confidence interval of the ``q`` quantile: the recorded values at the
    order-statistic ranks n·q ∓ z·√(n·q·(1−q)) (normal approximation to the binomial; W. J. Conover,
    *Practical Nonparametric Statistics*, 3rd ed., 1999, §3.2). ``None`` below 20 samples."""
    n = sum(histogram.values())
    if n < 20:
        return None
    half = z * math.sqrt(n * q * (1 - q))
    low, high = max(n * q - half, 1.0), min(n * q + half, float(n))
    return percentile(histogram, low / n), percentile(histogram, high / n)  # type: ignore[return-value]


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def mean(histogram: Mapping[int, int]) -> float | None:
    total = sum(histogram.values())
    return sum(ms * n for ms, n in histogram.items()) / total if total else None


@dataclass(frozen=True)
class Window:
    """What happened between two snapshots."""

    start: float
    end: float
    users: int
    entries: Mapping[Key, Entry]
    node_cpu_s: float | None = None
    generator_cpu_s: float | None = None
    node_wait_s: float | None = None

    @property
    def duration(self) -> float:
        return max(self.end - self.start, 1e-9)

    @property
    def requests(self) -> int:
        """HTTP requests the users made (socket events, deliveries among them, are not requests)."""
        return sum(e.requests for k, e in self.entries.items() if k[0] != SOCKET)

    @property
    def failures(self) -> int:
        return sum(e.failures for e in self.entries.values())

    @property
    def error_rate(self) -> float:
        """Failures over everything counted: HTTP requests and socket events (connects, deliveries)."""
        done = sum(e.requests for e in self.entries.values())
        return self.failures / done if done else 0.0

    @property
    def messages(self) -> int:
        """Messages sent (requests named ``msg:...``)."""
        sends = [e for k, e in self.entries.items() if k[1].startswith(MESSAGE_PREFIX)]
        return sum(e.requests - e.failures for e in sends)

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.duration

    def entry(self, key: Key) -> Entry:
        return self.entries.get(key, Entry())

    def p(self, key: Key, q: float) -> float | None:
        return percentile(self.entry(key).histogram, q)

    @property
    def node_cpu_ms_per_request(self) -> float | None:
        """Node CPU per request the users made in this step (all requests, not deliveries)."""
        if self.node_cpu_s is None or not self.requests:
            return None
        return 1000 * self.node_cpu_s / self.requests

    @property
    def node_cpu_ms_per_message(self) -> float | None:
        """Node CPU per message sent, everything else of the mix included."""
        if self.node_cpu_s is None or not self.messages:
            return None
        return 1000 * self.node_cpu_s / self.messages

    ROW_FIELDS = (
        "start_s", "end_s", "users", "node_cpu_s", "node_cpu_ms_per_request", "node_cpu_ms_per_message",
        "generator_cpu_s", "node_wait_s",
        "type", "name", "requests", "failures", "rps",
        "mean_ms", "p50_ms", "p95_ms", "p99_ms", "p95_low_ms", "p95_high_ms",
    )  # fmt: skip

    def _row(self, kind: str, name: str, e: Entry) -> dict[str, object]:
        p95_ci = quantile_interval(e.histogram, 0.95)
        return {
            "start_s": round(self.start, 3),
            "end_s": round(self.end, 3),
            "users": self.users,
            "node_cpu_s": None if self.node_cpu_s is None else round(self.node_cpu_s, 3),
            "node_cpu_ms_per_request": _round(self.node_cpu_ms_per_request),
            "node_cpu_ms_per_message": _round(self.node_cpu_ms_per_message),
            "generator_cpu_s": _round(self.generator_cpu_s),
            "node_wait_s": _round(self.node_wait_s),
            "type": kind,
            "name": name,
            "requests": e.requests,
            "failures": e.failures,
            "rps": round(e.requests / self.duration, 3),
            "mean_ms": mean(e.histogram),
            "p50_ms": percentile(e.histogram, 0.50),
            "p95_ms": percentile(e.histogram, 0.95),
            "p99_ms": percentile(e.histogram, 0.99),
            "p95_low_ms": p95_ci[0] if p95_ci else None,
            "p95_high_ms": p95_ci[1] if p95_ci else None,
        }

    def rows(self) -> list[dict[str, object]]:
        """One flat record per request key (for ``steps.csv``)."""
        return [self._row(kind, name, e) for (kind, name), e in sorted(self.entries.items())]

    def merged_messages_row(self) -> list[dict[str, object]]:
        """All message sends as one row, type ``ALL``, name ``msg:*`` (empty if none)."""
        sends = [e for k, e in self.entries.items() if k[1].startswith(MESSAGE_PREFIX)]
        if not sends:
            return []
        hist: dict[int, int] = {}
        for e in sends:
            for ms, n in e.histogram.items():
                hist[ms] = hist.get(ms, 0) + n
        merged = Entry(sum(e.requests for e in sends), sum(e.failures for e in sends), hist)
        return [self._row("ALL", MESSAGE_PREFIX + "*", merged)]
