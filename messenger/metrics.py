"""Prometheus metrics of the node (multiprocess-safe when PROMETHEUS_MULTIPROC_DIR is set by ``serve``)."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

REQUEST_LATENCY = Histogram(
    "msgfleet_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
MESSAGES_STORED = Counter("msgfleet_messages_stored_total", "Messages stored on this node")
REPLIES_STORED = Counter("msgfleet_replies_stored_total", "Messages stored on this node with a reply_to")
POST_BATCH_SIZE = Histogram(
    "msgfleet_post_batch_size",
    "Messages stored per send-path transaction (group commit, messenger.services.postbatch)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
DELIVERIES = Counter("msgfleet_deliveries_total", "Events delivered to devices", ["transport"])
SOCKETS = Gauge("msgfleet_websockets_connected", "Open device WebSockets", multiprocess_mode="livesum")


def render() -> tuple[bytes, str]:
    """The exposition text: merged over worker processes in multiprocess mode, else this process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
