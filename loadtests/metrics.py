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
SERVER_COUNTERS = {
    "messages_stored": "msgfleet_messages_stored_total",
    "replies_stored": "msgfleet_replies_stored_total",
    "call_minutes": "msgfleet_call_minutes_total",
    "calls_ended": "msgfleet_calls_ended_total",
    "deliveries": "msgfleet_deliveries_total",
    "cpu_seconds": "process_cpu_seconds_total",
}


def parse_metrics(text: str) -> Scrape:
    """Sum every sample of the exposition ``text`` by sample name."""
    totals: Scrape = {}
    for family in text_string_to_metric_families(text):
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


def server_counters(before: Mapping[str, Scrape], after: Mapping[str, Scrape]) -> dict[str, dict[str, float]]:
    """Per state and in total: how much each :data:`SERVER_COUNTERS` counter grew during the run."""
    per_state: dict[str, dict[str, float]] = {}
    for state, now in after.items():
        was = before.get(state, {})
        grown = {label: now.get(name, 0.0) - was.get(name, 0.0) for label, name in SERVER_COUNTERS.items()}
        per_state[state] = {label: round(value, 6) for label, value in grown.items()}
    total = {label: round(sum(c[label] for c in per_state.values()), 6) for label in SERVER_COUNTERS}
    return {**per_state, "total": total}
