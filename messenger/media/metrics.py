"""Prometheus counters of media and retention (registered with the node's other metrics on import)."""

from __future__ import annotations

from prometheus_client import Counter

UPLOADS = Counter(
    "msgfleet_media_uploads_total", "Accepted media uploads", ["kind", "result"]
)  # stored|dedup
BYTES = Counter("msgfleet_media_bytes_total", "Plaintext media bytes received and served", ["direction"])
RETAINED = Counter("msgfleet_retention_deleted_total", "Deleted by retention sweeps", ["what"])
