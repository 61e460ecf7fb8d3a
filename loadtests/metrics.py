"""Server-side counters scraped from the nodes' ``/metrics`` (Prometheus text format).

Parsing uses prometheus-client's own parser. Samples of one name are summed over their labels,
so ``DIR/metrics_before.json`` and ``metrics_after.json`` hold ``state -> sample name -> value``.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

from loadtests.errors import LoadTestError

Scrape = dict[str, float]

# What summary.json reports per node; the node's metric names are in docs/API.md.
# process_cpu_seconds_total is prometheus-client's standard process collector.
# Call minutes for demand come from metered seconds; the rounded billable minutes are the tariff's.
SERVER_COUNTERS = {
    "messages_stored": "msgfleet_messages_stored_total",
    "replies_stored": "msgfleet_replies_stored_total",
    "calls_started": "msgfleet_calls_started_total",
    "calls_ended": "msgfleet_calls_ended_total",
    "call_seconds": "msgfleet_call_seconds_total",
    "call_minutes_billed": "msgfleet_call_minutes_total",
    "events_pushed": "msgfleet_deliveries_total",  # every event pushed to a device, not only messages
    "cpu_seconds": "process_cpu_seconds_total",
}


def parse_metrics(text: str) -> Scrape:
    """Sum every sample of the exposition ``text`` by sample name."""
    totals: Scrape = {}
    for family in text_string_to_metric_families(text):
        if not family.samples and family.type == "counter":
            totals[f"{family.name}_total"] = 0.0  # declared, nothing counted yet (labelled counters)
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + float(sample.value)
    return totals


def scrape(url: str, timeout_s: float = 10.0) -> Scrape:
    """GET ``url/metrics`` and parse it."""
    try:
        response = httpx.get(f"{url}/metrics", timeout=timeout_s)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise LoadTestError(f"cannot scrape {url}/metrics: {exc}") from None
    return parse_metrics(response.text)


def scrape_all(targets: Mapping[str, str]) -> dict[str, Scrape]:
    return {state: scrape(url) for state, url in targets.items()}


def server_counters(
    before: Mapping[str, Scrape], after: Mapping[str, Scrape]
) -> dict[str, dict[str, float | None]]:
    """Per state and in total: how much each :data:`SERVER_COUNTERS` counter grew during the run.

    ``None`` where a node does not export the counter (not metered is not the same as zero).
    """
    per_state: dict[str, dict[str, float | None]] = {}
    for state, now in after.items():
        was = before.get(state, {})
        per_state[state] = {
            label: round(now[name] - was.get(name, 0.0), 6) if name in now else None
            for label, name in SERVER_COUNTERS.items()
        }
    total: dict[str, float | None] = {}
    for label in SERVER_COUNTERS:
        values = [c[label] for c in per_state.values() if c[label] is not None]
        total[label] = round(sum(v for v in values if v is not None), 6) if values else None
    return {**per_state, "total": total}
