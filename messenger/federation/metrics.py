"""Prometheus metrics of federation (exported with the node's others at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter

PDUS_SENT = Counter("msgfleet_federation_pdus_sent_total", "PDUs acknowledged by a peer", ["destination"])
SEND_FAILURES = Counter(
    "msgfleet_federation_send_failures_total", "Transactions a peer did not acknowledge", ["destination"]
)
TXNS_RECEIVED = Counter(
    "msgfleet_federation_txns_received_total", "Transactions received", ["origin", "outcome"]
)
REFUSED = Counter("msgfleet_federation_refused_total", "Refused server-to-server requests", ["reason"])
