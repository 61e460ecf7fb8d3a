"""Property-based fuzzing of every documented operation: no 5xx, a JSON ``{"error", "detail"}`` 4xx body.

Schemathesis reads the running node's ``/openapi.json`` and sends valid and invalid requests to each
operation (a bounded, derandomized number of examples each), authenticated as a real signed-up device.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from requests.structures import CaseInsensitiveDict
from schemathesis import GenerationMode
from schemathesis.checks import CheckContext
from schemathesis.core.failures import FailureGroup
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import positive_data_acceptance

from messenger.client import MessengerClient, sms_file_reader
from messenger.launch import NodeProcess

MAX_EXAMPLES = 10
# uvicorn's own plain-text 400 for bytes that are not HTTP (e.g. a control character in a header value);
# sent by the server's protocol parser before any application code runs, so the app cannot shape it.
UVICORN_BAD_HTTP = b"Invalid HTTP request received."
# /v1/sync long-polls for up to ``timeout`` seconds; fuzzed cases may wait at most this long.
MAX_POLL_SECONDS = 0.2
# A fuzzed request answers in milliseconds; the bound is for a hung node on a machine loaded 8-fold.
CALL_TIMEOUT = 120


def error_body(ctx: CheckContext, response: Response, case: schemathesis.Case) -> bool | None:
    """Every 4xx is a JSON object ``{"error": str, "detail": str}`` (docs/API.md, "Errors")."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"4xx body is not JSON: {response.text[:200]!r}") from None
    assert isinstance(body, dict), f"4xx body is not a JSON object: {response.text[:200]}"
    assert isinstance(body.get("error"), str) and isinstance(body.get("detail"), str), (
        f"4xx body lacks error/detail strings: {response.text[:200]}"
    )
    return None


@pytest.fixture(scope="module")
def device_token(node: NodeProcess) -> str:
    """A real device token of a freshly signed-up user (its own event loop: this module is synchronous)."""

    async def login() -> str:
        client = await MessengerClient.login(
            node.url, f"+7998{secrets.randbelow(10**7):07d}", sms_file_reader(node.sms_path)
        )
        await client.close()
        return client.token

    return asyncio.run(login())


@pytest.fixture(scope="module")
def api_schema(node: NodeProcess, device_token: str) -> Any:
    """The node's own OpenAPI document, pointed at the node, with a bearer token and both generation modes."""
    raw = httpx.get(f"{node.url}/openapi.json", timeout=60).json()
    schema = schemathesis.openapi.from_dict(raw)
    schema.config.update(base_url=node.url, headers={"Authorization": f"Bearer {device_token}"})
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        deterministic=True,
    )
    return schema


def fuzz_operation(operation: Any, mode: GenerationMode) -> list[str]:
    """Run ``MAX_EXAMPLES`` derandomized cases of one operation in one mode; the failures as text."""
    failures: list[str] = []

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # no shrinking: report the first failing case of each kind
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        # The case's dicts are replaced, never changed in place: generated values may be shared with the
        # strategy (constants, enum members), and changing them would change what later draws produce,
        # which Hypothesis reports as FlakyStrategyDefinition (issue 17).
        poll = case.query.get("timeout") if isinstance(case.query, dict) else None
        if isinstance(poll, (int, float)) and poll > MAX_POLL_SECONDS:
            case.query = {**case.query, "timeout": MAX_POLL_SECONDS}
        # A documented Content-Length header (POST /v1/media) is sent by the transport from the real body;
        # a generated one that promises more bytes than are sent only makes the server wait for them.
        if case.headers and any(k.lower() == "content-length" for k in case.headers):
            case.headers = CaseInsensitiveDict(
                {k: v for k, v in case.headers.items() if k.lower() != "content-length"}
            )
        try:
            response = case.call(timeout=CALL_TIMEOUT)
            if response.content == UVICORN_BAD_HTTP:  # rejected by the HTTP parser: no app response to check
                return
            # positive_data_acceptance is off: the app validates more than JSON Schema can say (E.164
            # phones, codes, ids that exist), so schema-valid input may rightly get a 400/422.
            case.validate_response(
                response, additional_checks=[error_body], excluded_checks=[positive_data_acceptance]
            )
        except FailureGroup as exc:
            failures.append(f"{operation.label} [{mode.value}]: {case.as_curl_command()}\n{exc}")
        except requests.RequestException as exc:  # recorded, not raised: a raise makes Hypothesis replay
            failures.append(f"{operation.label} [{mode.value}]: {case.as_curl_command()}\nno answer: {exc!r}")

    try:
        run()
    except Unsatisfiable:  # negative mode of an operation without inputs: nothing can be made invalid
        assert mode is GenerationMode.NEGATIVE, operation.label
    return failures


SHARDS = 2  # every operation is in one shard; shards and modes are separate tests (pytest -n spreads them)


@pytest.mark.parametrize("shard", range(SHARDS))
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_every_operation_survives_fuzzing(api_schema: Any, mode: GenerationMode, shard: int) -> None:
    """Positive and negative cases of every operation: no 5xx, 4xx bodies are errors, responses match docs."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20
    mine = sorted(operations, key=lambda op: op.label)[shard::SHARDS]
    failures = [failure for operation in mine for failure in fuzz_operation(operation, mode)]
    assert not failures, f"{len(failures)} failing cases:\n" + "\n\n".join(failures[:40])


@pytest.mark.parametrize("cursor", [2**31, 27657167757889, 12577127081836799852544])
def test_sync_cursor_beyond_seq_column_is_422(node: NodeProcess, device_token: str, cursor: int) -> None:
    """Found by fuzzing: ``GET /v1/sync?cursor=12577127081836799852544`` was a 500 (DB integer overflow),
    and on PostgreSQL (4-byte ``integer`` seq) so was ``cursor=27657167757889``."""
    response = httpx.get(
        f"{node.url}/v1/sync",
        params={"cursor": cursor, "timeout": 0},
        headers={"Authorization": f"Bearer {device_token}"},
        timeout=60,
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"


def test_sync_largest_cursor_is_accepted(node: NodeProcess, device_token: str) -> None:
    """The bound is the column's own maximum: ``cursor=2**31 - 1`` is still an ordinary (empty) sync."""
    response = httpx.get(
        f"{node.url}/v1/sync",
        params={"cursor": 2**31 - 1, "timeout": 0},
        headers={"Authorization": f"Bearer {device_token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["events"] == []
