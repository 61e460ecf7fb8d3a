"""The peer benchmark's Locust workload: senders post into rooms whose members receive.

One file for both servers (``PEER_KIND`` = ``synapse`` or ``msgfleet``), so the workload is the
same: closed-loop senders without think time, one room each, every other member of the room
receiving (Synapse: ``/sync`` long-polls; msgfleet: the device's WebSocket). Senders post over HTTP;
with ``PEER_SEND=ws`` msgfleet senders post over their own device's WebSocket instead (``message.send``,
the way its clients send; Synapse's client API has no such channel). Delivery latency is send → arrival,
reported as request type ``RECV``, name ``deliver``. ``PEER_SETUP`` is the JSON the benchmark wrote after
registering the users and creating the rooms.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from typing import Any

import gevent
import requests
import websocket
from locust import FastHttpUser, constant, events, task

from loadtests.behaviour import FAKE_SESSION, fake_ciphertext, sent_at

KIND = os.environ.get("PEER_KIND", "msgfleet")
SEND = os.environ.get("PEER_SEND", "http")
SETUP: dict[str, Any] = {}  # read at Locust's init event
ROOMS = itertools.count()
RECEIVERS: list[gevent.Greenlet] = []


def _fire(env: Any, started: float) -> None:
    env.events.request.fire(
        request_type="RECV", name="deliver", response_time=(time.time() - started) * 1000,
        response_length=0, exception=None, context={},
    )  # fmt: skip


def _synapse_receiver(env: Any, url: str, token: str, user: str) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    sync = f"{url}/_matrix/client/v3/sync"
    since = session.get(sync, params={"timeout": 0}, timeout=60).json()["next_batch"]
    while True:
        try:
            body = session.get(sync, params={"since": since, "timeout": 30000}, timeout=60).json()
        except requests.RequestException:
            return
        since = body["next_batch"]
        for room in body.get("rooms", {}).get("join", {}).values():
            for event in room.get("timeline", {}).get("events", []):
                if event.get("type") == "m.room.message" and event.get("sender") != user:
                    started = sent_at(event.get("content", {}).get("body", ""))
                    if started is not None:
                        _fire(env, started)


def _msgfleet_receiver(env: Any, url: str, token: str, device: str) -> None:
    socket = _msgfleet_socket(url, token)
    socket.settimeout(None)
    while True:
        try:
            frame = json.loads(socket.recv())
        except Exception:
            return
        data = frame.get("data", {})
        if frame.get("kind") == "message.new" and data.get("sender_device") != device:
            started = sent_at(data.get("ciphertext") or "")
            if started is not None:
                _fire(env, started)


def _msgfleet_socket(url: str, token: str) -> websocket.WebSocket:
    # The node sends valid UTF-8 JSON; websocket-client's pure-Python UTF-8 check was the load
    # generator's largest cost (py-spy), so it is skipped.
    ws_url = url.replace("http", "ws", 1) + "/v1/ws"
    socket = websocket.create_connection(
        ws_url, timeout=30, skip_utf8_validation=True, header=[f"Authorization: Bearer {token}"]
    )
    socket.recv()  # ready
    return socket


@events.init.add_listener
def _read_setup(**_: Any) -> None:
    with open(os.environ["PEER_SETUP"], encoding="utf-8") as setup:
        SETUP.update(json.load(setup))
    Sender.host = SETUP["url"]


@events.test_start.add_listener
def _start_receivers(environment: Any, **_: Any) -> None:
    url = SETUP["url"]
    for room in SETUP["rooms"]:
        for member in room["members"]:
            if KIND == "synapse":
                args = (_synapse_receiver, environment, url, member["token"], member["user"])
            else:
                args = (_msgfleet_receiver, environment, url, member["token"], member["device"])
            RECEIVERS.append(gevent.spawn(*args))
    gevent.sleep(2)  # let every receiver reach its first long-poll / socket


@events.test_stop.add_listener
def _stop_receivers(**_: Any) -> None:
    gevent.killall(RECEIVERS, block=False)


class Sender(FastHttpUser):
    """Posts into its room as fast as the server answers."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.room = SETUP["rooms"][next(ROOMS) % len(SETUP["rooms"])]
        self.headers = {"Authorization": f"Bearer {self.room['sender']['token']}"}
        self.serial = itertools.count()
        self.socket = None
        if KIND == "msgfleet" and SEND == "ws":
            self.socket = _msgfleet_socket(SETUP["url"], self.room["sender"]["token"])

    def on_stop(self) -> None:
        if self.socket is not None:
            self.socket.close()

    @task
    def send(self) -> None:
        n = next(self.serial)
        if KIND == "synapse":
            body = {"msgtype": "m.text", "body": fake_ciphertext(self.room["sender"]["user"], size=120)}
            path = f"/_matrix/client/v3/rooms/{self.room['room']}/send/m.room.message/t{n}"
            self.client.put(path, json=body, headers=self.headers, name="send")
        else:
            body = {
                "client_msg_id": f"{self.room['sender']['device']}-{n}",
                "ciphertext": fake_ciphertext("bench", size=120),  # one per message, as Megolm
                "session_id": FAKE_SESSION,
            }
            if self.socket is not None:
                self._send_frame({"type": "message.send", "chat_id": self.room["room"], "id": n, **body})
                return
            path = f"/v1/chats/{self.room['room']}/messages"
            self.client.post(path, json=body, headers=self.headers, name="send")

    def _send_frame(self, frame: dict[str, Any]) -> None:
        """Post over the sender's WebSocket; wait for the reply with the frame's id (events are skipped)."""
        assert self.socket is not None
        started, error = time.perf_counter(), None
        self.socket.send(json.dumps(frame))
        while True:
            reply = json.loads(self.socket.recv())
            if reply.get("id") == frame["id"]:
                break
        if reply.get("type") != "message.send.ok":
            error = RuntimeError(f"{reply.get('error')}: {reply.get('detail')}")
        self.environment.events.request.fire(
            request_type="WS", name="send", response_time=(time.perf_counter() - started) * 1000,
            response_length=0, exception=error, context={},
        )  # fmt: skip
