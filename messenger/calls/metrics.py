"""Prometheus counters of calls (no per-user labels: per-user minutes are in ``GET /v1/usage``)."""

from __future__ import annotations

from prometheus_client import Counter

CALLS_STARTED = Counter("msgfleet_calls_started_total", "Calls started", ["kind", "media"])
CALLS_ENDED = Counter("msgfleet_calls_ended_total", "Calls ended by reason", ["kind", "reason"])
CALL_SECONDS = Counter("msgfleet_call_seconds_total", "Metered call seconds over all participants", ["media"])
CALL_MINUTES = Counter(
    "msgfleet_call_minutes_total", "Billable call minutes (rounded as the tariff says)", ["media"]
)
CALL_LEGS_TIMED_OUT = Counter(
    "msgfleet_call_legs_timed_out_total", "Participants dropped by the heartbeat timeout"
)
CALL_SIGNALS = Counter("msgfleet_call_signals_total", "Signalling messages relayed", ["transport"])
