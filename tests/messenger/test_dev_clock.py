"""The development clock (``messenger.clock``, ``/v1/dev/clock``, ``/v1/dev/sweep``): off unless asked for
and only on loopback, shared by every worker of a node, only forward."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from clock_helpers import DevClock

from messenger import clock as node_clock
from messenger.errors import MessengerConfigError
from messenger.settings import load_settings
from messenger.sms import last_code


def test_dev_clock_is_refused_outside_loopback() -> None:
    with pytest.raises(MessengerConfigError, match="dev_clock") as err:
        load_settings(state="RU-MOW", host="0.0.0.0", dev_clock=True)
    assert "\n" not in str(err.value)
    assert load_settings(state="RU-MOW", host="127.0.0.1", dev_clock=True).dev_clock


async def test_dev_endpoints_are_404_without_the_setting(node: Any) -> None:
    async with httpx.AsyncClient(base_url=node.url, timeout=60) as http:
        for method, path in [("GET", "/v1/dev/clock"), ("POST", "/v1/dev/sweep/calls")]:
            assert (await http.request(method, path)).status_code == 404, path
        advance = await http.post("/v1/dev/clock", json={"advance_seconds": 60})
    assert advance.status_code == 404


async def test_the_clock_only_moves_forward(clock_node: Any, clock: DevClock) -> None:
    before = await clock.now()
    async with httpx.AsyncClient(base_url=clock_node.url, timeout=60) as http:
        back = await http.post("/v1/dev/clock", json={"advance_seconds": -1})
        assert (back.status_code, back.json()["error"]) == (422, "validation_error")
    assert await clock.advance(0) >= before


async def test_code_expiry_follows_the_clock_on_every_worker(clock_node: Any, clock: DevClock) -> None:
    """A code requested on one worker expires for all: 300 s of the node's clock, no sleeping. With two
    workers the requests below land on both (each a new connection), and each must see the advance."""
    numbers = [f"+7996{secrets.randbelow(10**7):07d}" for _ in range(6)]
    async with httpx.AsyncClient(base_url=clock_node.url, timeout=60) as http:
        for number in numbers:
            assert (await http.post("/v1/auth/request-code", json={"phone": number})).status_code == 202
    ahead = await clock.advance(301)
    assert ahead >= time.time() + 300
    for number in numbers:  # a fresh connection each, so the kernel spreads them over the workers
        async with httpx.AsyncClient(base_url=clock_node.url, timeout=60) as http:
            body = {"phone": number, "code": last_code(clock_node.sms_path, number) or "", "device_name": "t"}
            response = await http.post("/v1/auth/verify", json={**body, "platform": "pytest"})
            assert (response.status_code, response.json()["error"]) == (400, "code_expired"), number
            assert (await http.get("/v1/dev/clock")).json()["now"] >= ahead


def test_offset_file_is_shared_between_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the workers rely on: an advance in one process is read by another at its next ``now()``."""
    for name, value in [("_path", None), ("_seen", None), ("_offset", 0.0)]:
        monkeypatch.setattr(node_clock, name, value)  # restored afterwards: this process keeps the wall clock
    path = tmp_path / "dev-clock.json"
    node_clock.use_dev_clock(path)
    assert node_clock.offset() == 0.0
    read = "import sys; from pathlib import Path; from messenger import clock; "
    read += "clock.use_dev_clock(Path(sys.argv[1])); print(clock.offset())"
    node_clock.advance(3600.5)
    other = subprocess.run(
        [sys.executable, "-c", read, str(path)], capture_output=True, text=True, check=True
    )
    assert float(other.stdout) == 3600.5  # and starting the other process did not reset it
    assert node_clock.now() >= time.time() + 3600
    with pytest.raises(ValueError, match="forward"):
        node_clock.advance(-1)
