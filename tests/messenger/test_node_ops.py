"""Settings errors, the serve command's one-line failures, health, readiness, metrics, OpenAPI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from messenger.client import MessengerClient
from messenger.errors import MessengerConfigError
from messenger.settings import load_settings

Signup = Callable[..., Awaitable[MessengerClient]]


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"state": "XX-ZZ"}, "state"),
        ({"state": "ru-mow"}, "state"),
        ({"state": "RU-MOW", "port": 70000}, "port"),
        ({"state": "RU-MOW", "database_url": "mysql://db/x"}, "database_url"),
        ({"state": "RU-MOW", "redis_url": "http://x"}, "redis_url"),
        ({"state": "RU-MOW", "workers": 2}, "PostgreSQL"),
    ],
)
def test_wrong_settings_raise_one_line(overrides: dict[str, Any], names: str) -> None:
    with pytest.raises(MessengerConfigError) as err:
        load_settings(**overrides)
    assert names in str(err.value) and "\n" not in str(err.value)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSGFLEET_STATE", "RU-SPE")
    monkeypatch.setenv("MSGFLEET_DATABASE_URL", "postgresql://u@h/db")
    settings = load_settings()
    assert settings.state == "RU-SPE" and settings.db_url == "postgresql+asyncpg://u@h/db"


def test_serve_with_bad_state_exits_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "messenger", "serve", "--state", "ZZ-999"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "ZZ-999" in done.stderr


async def test_health_ready_openapi(node: Any) -> None:
    async with httpx.AsyncClient(base_url=node.url, timeout=60) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).json()["status"] == "ready"
        paths = (await http.get("/openapi.json")).json()["paths"]
    assert {"/v1/auth/verify", "/v1/chats/{chat_id}/messages", "/v1/sync"} <= set(paths)


async def test_metrics_count_messages_deliveries_and_routes(signup: Signup, node: Any) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    async with bob.socket() as ws:
        await alice.send(chat, "counted")
        await ws.next("message.new")
        async with httpx.AsyncClient(base_url=node.url, timeout=60) as http:
            text = (await http.get("/metrics")).text
    samples = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples["msgfleet_messages_stored_total"] >= 1
    assert samples['msgfleet_deliveries_total{transport="ws"}'] >= 1
    assert sum(v for k, v in samples.items() if k.startswith("msgfleet_websockets_connected")) >= 1
    assert any('route="/v1/chats/{chat_id}/messages"' in k for k in samples)


async def test_metrics_count_replies_apart(signup: Signup, node: Any) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)

    async def counters() -> tuple[float, float]:
        async with httpx.AsyncClient(base_url=node.url, timeout=60) as http:
            text = (await http.get("/metrics")).text
        samples = {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in text.splitlines()
            if line and not line.startswith("#")
        }
        return samples["msgfleet_messages_stored_total"], samples.get("msgfleet_replies_stored_total", 0.0)

    first = await alice.send(chat, "question")
    stored, replies = await counters()
    await bob.send(chat, "answer", reply_to=first["seq"])
    await bob.send(chat, "aside")
    stored_after, replies_after = await counters()
    assert (stored_after - stored, replies_after - replies) == (2, 1)
