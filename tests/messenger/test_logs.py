"""What the node writes to its log holds no bearer token, phone number or TOTP secret after a session of
sign-ups, second factors, sockets (every handshake form, the refused ``?token=`` one too) and messages;
query strings are cut from every logged path."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pyotp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from messenger.client import MessengerClient
from messenger.logs import log_config

Signup = Callable[..., Awaitable[MessengerClient]]


@pytest.fixture(scope="module")
def chatty_node(node_factory: Callable[..., Any]) -> Any:
    """A node logging at info (what production runs), PostgreSQL + 2 workers + Redis when configured."""
    return node_factory(shared_backends=True, MSGFLEET_LOG_LEVEL="info")


async def test_no_token_phone_or_secret_reaches_the_log(chatty_node: Any, signup: Signup) -> None:
    alice, bob = await signup(node_=chatty_node), await signup(node_=chatty_node)
    chat = await alice.open_private(bob.user_id)
    ws_url = chatty_node.url.replace("http", "ws", 1) + "/v1/ws"
    async with bob.socket() as events:  # the reference client: token in the first frame
        await alice.send(chat, "hello")
        assert (await events.next("message.new"))["kind"] == "message.new"
    async with connect(
        ws_url + "?cursor=0", additional_headers={"Authorization": f"Bearer {bob.token}"}
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "ready"
    async with connect(ws_url + f"?token={alice.token}") as ws:  # the old documented form
        with pytest.raises(ConnectionClosed) as refused:
            await ws.recv()
    assert refused.value.rcvd is not None and refused.value.rcvd.code == 4400
    await alice.request("PUT", "/v1/account/2fa/pin", json={"pin": "8642"})
    secret = (await bob.request("POST", "/v1/account/2fa/totp"))["secret"]
    await bob.request("POST", "/v1/account/2fa/totp/confirm", json={"otp": pyotp.TOTP(secret).now()})
    await alice.send(chat, "bye")

    written = chatty_node.data_dir.joinpath("node.log").read_text()  # the node's stdout and stderr
    assert "WebSocket /v1/ws" in written  # uvicorn logged the handshakes (without their query)
    assert "login code sent" in written
    for client in (alice, bob):
        assert client.token not in written
        assert client.phone not in written and client.phone.lstrip("+") not in written
    assert secret not in written
    assert not re.search(r"\+\d{10,15}", written)


def test_access_lines_lose_their_query_string() -> None:
    """uvicorn's access line format, through the node's logging config (access logs are off by default;
    a deployment that turns them on must not log tokens either)."""
    sink = io.StringIO()
    config = log_config("info", json_logs=True)
    config["handlers"]["default"]["stream"] = sink
    logging.config.dictConfig(config)
    try:
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/v1/sync?token=SECRET&cursor=1", "1.1", 200
        )
    finally:  # give the test process its loggers back
        for name in config["loggers"]:
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.setLevel(logging.NOTSET)
            logger.propagate = True
    line = json.loads(sink.getvalue())
    assert line["msg"] == '127.0.0.1:5000 - "GET /v1/sync HTTP/1.1" 200'
