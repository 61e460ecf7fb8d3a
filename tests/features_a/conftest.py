"""Fixtures of part A: a node with small media limits (``anode``); a node on moto's S3 (``s3_node``)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from a_media_files import BUCKET, CREDS
from moto.server import ThreadedMotoServer

LIMITS = {
    "MSGFLEET_MEDIA_PHOTO_MAX_BYTES": "1000000",
    "MSGFLEET_MEDIA_DOCUMENT_MAX_BYTES": "2000000",
    "MSGFLEET_MEDIA_VOICE_MAX_BYTES": "500000",
}


@pytest.fixture(scope="session")
def anode(node_factory: Callable[..., Any]) -> Any:
    """A node (PostgreSQL + Redis + 2 workers when configured) with small per-type media limits."""
    return node_factory(shared_backends=True, **LIMITS)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, **CREDS).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


RETENTION = {"group": 3}  # s3_node keeps 3 s of group history (private chats: forever)


@pytest.fixture(scope="session")
def s3_node(node_factory: Callable[..., Any], s3_endpoint: str) -> Any:
    return node_factory(
        MSGFLEET_MEDIA_BACKEND="s3",
        MSGFLEET_MEDIA_S3_ENDPOINT=s3_endpoint,
        MSGFLEET_MEDIA_S3_BUCKET=BUCKET,
        MSGFLEET_MEDIA_S3_ACCESS_KEY="testing",
        MSGFLEET_MEDIA_S3_SECRET_KEY="testing",
        MSGFLEET_MEDIA_S3_PREFIX="node-a/",
        MSGFLEET_RETENTION_RULES=json.dumps(RETENTION),
        MSGFLEET_RETENTION_INTERVAL_SECONDS="0.3",
    )
