"""Locust scenario: simulated devices of a messenger fleet, over the node's real API (docs/API.md).

Plain Locust works: ``locust -f loadtests/locustfile.py --host http://127.0.0.1:8080`` against
one node, or ``--msgfleet-targets RU-MOW=http://...,RU-SPE=http://...`` (or MSGFLEET_TARGETS)
against a fleet, ``--msgfleet-plan rollout_plans/dev-3-states.yaml`` for the plan's mix. The node
needs ``MSGFLEET_DEV_SMS_ENDPOINT=true`` and ``MSGFLEET_CODE_RATE_PER_IP=0`` (``msgfleet loadtest``
sets both on the fleet it starts).

Each simulated user signs up through the real flow (request a code, read it from the node's
development SMS sink, verify) — or, for the plan's ``oidc_signin_share`` of them, with the state's
identity provider ``local`` (``msgfleet loadtest`` starts tools/oidc-provider and configures the
fleet; loadtests.oidc_provider) — keeps one WebSocket open as its device, and then acts by the plan's
weights. Message ciphertexts carry their send time, so the receiving device reports end-to-end
delivery latency to Locust as request type ``WS``, name ``deliver``. Replies follow
``demand.reply_ratio`` (loadtests.behaviour). A user that stops leaves the partner pool and hangs up
the calls it is in, so calls end inside the run and the node meters their seconds.
"""

from __future__ import annotations

import collections
import io
import itertools
import json
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import gevent
import httpx
import websocket
from locust import FastHttpUser, User, between, events
from locust.env import Environment
from PIL import Image

from loadtests.behaviour import (
    BY_RATIO,
    FAKE_SESSION,
    NEEDS,
    ask_for_reply,
    asked,
    fake_ciphertext,
    phone_number,
    pick_state,
    recipient_state_weights,
    sent_at,
    task_weights,
    user_seed,
)
from loadtests.config import RunConfig, config_from_environment, parse_targets
from loadtests.oidc_provider import OIDC_PROVIDER, log_in
from msgfleet.schema import Plan, load_plan, parse_plan

CHANNEL_OWNERS = 20  # about one user in this many owns a channel
HEARTBEAT_S = 15.0  # call legs report in well within the node's call_heartbeat_timeout (60 s)


@dataclass(frozen=True)
class Account:
    state: str
    user_id: str
    device_id: str


@dataclass
class Scenario:
    """What every simulated user of this Locust process shares."""

    config: RunConfig
    plan: Plan
    skipped: list[str]
    behaviours: set[str]
    accounts: dict[str, list[Account]] = field(default_factory=lambda: collections.defaultdict(list))
    chat_devices: dict[str, list[str]] = field(default_factory=dict)
    channels: dict[str, list[str]] = field(default_factory=lambda: collections.defaultdict(list))
    channel_owners: collections.Counter[str] = field(default_factory=collections.Counter)
    cross_state: bool = True
    serial: Any = field(default_factory=itertools.count)  # users (and message ids) of this process
    live_devices: set[str] = field(default_factory=set)  # devices of running users (asked for replies)

    def join(self, account: Account) -> None:
        self.accounts[account.state].append(account)
        self.live_devices.add(account.device_id)

    def leave(self, account: Account) -> None:
        """A stopped user is no partner any more: nobody picks it for a chat, a call or a reply."""
        pool = self.accounts.get(account.state, [])
        if account in pool:
            pool.remove(account)
        self.live_devices.discard(account.device_id)

    @property
    def states(self) -> list[str]:
        return list(self.config.targets)


SCENARIO: Scenario | None = None


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument("--msgfleet-targets", default="", help="STATE=URL,... of a fleet's nodes")
    parser.add_argument("--msgfleet-plan", default="", help="rollout plan YAML with the behaviour mix")


def photo(rng: random.Random, side: int = 96) -> bytes:
    """A small JPEG of random pixels: every upload is new bytes (media ids are content hashes)."""
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def _api_paths(url: str) -> list[str]:
    """The node's route paths from its OpenAPI document; if that fails, the prefixes the
    behaviours need that answer anything but 404 (401/405 mean the route exists)."""
    try:
        with urllib.request.urlopen(f"{url}/openapi.json", timeout=10) as response:
            return sorted(json.load(response)["paths"])
    except (OSError, ValueError, KeyError) as exc:
        print(f"locustfile: {url}/openapi.json unusable ({exc}); probing routes instead")
    found = []
    for prefix in sorted({p for p in NEEDS.values() if p}):
        try:
            urllib.request.urlopen(f"{url}{prefix}", timeout=10).close()
            found.append(prefix)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                found.append(prefix)
        except OSError:
            pass
    return found


def configure(environment: Environment) -> Scenario:
    """Read the run (run.json, Locust arguments or --host), the plan and the node's API once."""
    global SCENARIO
    options = vars(environment.parsed_options) if environment.parsed_options is not None else {}
    config = config_from_environment(environment.host)
    if options.get("msgfleet_targets"):
        config.targets = parse_targets(options["msgfleet_targets"])
    if options.get("msgfleet_plan"):
        config.plan = options["msgfleet_plan"]
    plan = load_plan(config.plan) if config.plan else parse_plan("name: default\nsites: [{state: RU-MOW}]\n")
    paths = _api_paths(next(iter(config.targets.values())))
    weights, skipped = task_weights(plan.loadtest.weights, paths, implemented=TASKS)
    MessengerUser.tasks = [TASKS[name] for name, w in sorted(weights.items()) for _ in range(w)]
    low, high = plan.loadtest.think_time_s
    MessengerUser.wait_time = between(low, high)
    SCENARIO = Scenario(config, plan, skipped, set(weights))
    if BY_RATIO in plan.loadtest.weights:
        print(
            f"locustfile: the '{BY_RATIO}' weight is not used: replies follow demand.reply_ratio = "
            f"{plan.demand.reply_ratio:g} (replies per received message)"
        )
    if skipped:
        print(f"locustfile: the node has no API for {', '.join(skipped)}; those behaviours are skipped")
    return SCENARIO


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    if SCENARIO is None:
        configure(environment)


class MessengerUser(FastHttpUser):
    """One person with one device: signs up, keeps a WebSocket, chats by the plan's weights."""

    host = "http://127.0.0.1"  # replaced per user by its home state's node
    wait_time = between(1, 5)

    def __init__(self, environment: Environment) -> None:
        assert SCENARIO is not None, "configure() runs at Locust's init event"
        self.scenario = SCENARIO
        states = SCENARIO.states
        serial = next(SCENARIO.serial)
        self.state = states[serial % len(states)]
        self.host = SCENARIO.config.targets[self.state]
        super().__init__(environment)
        self.account: Account | None = None
        self.headers: dict[str, str] = {}
        self.socket: websocket.WebSocket | None = None
        self.reader: gevent.Greenlet | None = None
        self.private: dict[str, str] = {}  # partner user id -> chat id
        self.groups: list[str] = []
        self.calls: dict[str, gevent.Greenlet] = {}  # calls this device answered, until call.ended
        self.in_call: set[str] = set()  # calls this device is in (placed or answered): hung up at stop
        self.replies: list[gevent.Greenlet] = []  # replies waiting out their think time
        self.owned_channels: list[str] = []
        self.subscribed = False
        # workers get their index from the master before any user spawns (Locust's WorkerRunner)
        self.worker = max(int(getattr(environment.runner, "worker_index", 0) or 0), 0)
        self.phone = phone_number(self.worker, serial)
        self.rng = random.Random(user_seed(SCENARIO.config.seed, self.worker, serial))

    # ----- sign-up and the device socket

    def on_start(self) -> None:
        share = self.scenario.plan.loadtest.oidc_signin_share
        login = self._oidc_login() if share > 0 and self.rng.random() < share else self._sms_login()
        self.account = Account(self.state, login["user_id"], login["device_id"])
        self.headers = {"Authorization": f"Bearer {login['token']}"}
        self._connect(login["token"])
        self.scenario.join(self.account)
        self._maybe_create_group()
        if "channel_read" in self.scenario.behaviours or "channel_post" in self.scenario.behaviours:
            self._join_channels()

    def _sms_login(self) -> dict[str, Any]:
        phone = self.phone
        self.client.post("/v1/auth/request-code", json={"phone": phone}, name="auth:request-code")
        code = self._code(phone)
        body = {"phone": phone, "code": code, "device_name": "locust", "platform": "loadtest"}
        with self.client.post("/v1/auth/verify", json=body, name="auth:verify", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"verify: {resp.status_code} {resp.text[:200]}")
                raise gevent.GreenletExit
            login: dict[str, Any] = resp.json()
        return login

    def _oidc_login(self) -> dict[str, Any]:
        """Sign in with the state's identity provider (the run's local one), which vouches for the
        user's phone number: start, the provider's login and consent (request type OIDC), callback."""
        base = f"/v1/auth/oidc/{OIDC_PROVIDER}"
        with self.client.post(f"{base}/start", name="auth:oidc-start", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"oidc start: {resp.status_code} {resp.text[:200]}")
                raise gevent.GreenletExit
            started = resp.json()
        began = time.perf_counter()
        try:
            result = log_in(started["authorization_url"], f"p{self.phone.removeprefix('+')}")
        except (RuntimeError, httpx.HTTPError) as exc:
            self._fire("OIDC", "provider:login", (time.perf_counter() - began) * 1000, exc)
            raise gevent.GreenletExit from None
        self._fire("OIDC", "provider:login", (time.perf_counter() - began) * 1000, None)
        body = {
            "code": result["code"],
            "state": result["state"],
            "device_name": "locust",
            "platform": "loadtest",
        }
        with self.client.post(
            f"{base}/callback", json=body, name="auth:oidc-callback", catch_response=True
        ) as resp:
            if resp.status_code != 200:
                resp.failure(f"oidc callback: {resp.status_code} {resp.text[:200]}")
                raise gevent.GreenletExit
            login: dict[str, Any] = resp.json()
        return login

    def _code(self, phone: str) -> str:
        with self.client.get(f"/v1/dev/sms/{phone}", name="auth:sms", catch_response=True) as resp:
            if resp.status_code == 200:
                return str(resp.json()["code"])
            resp.success()  # fall back to the node's sms.jsonl (same machine)
        path = self.scenario.config.sms_files.get(self.state)
        if path:
            with open(path, encoding="utf-8") as sms:
                codes = [json.loads(line) for line in sms if phone in line]
            if codes:
                return str(codes[-1]["code"])
        raise RuntimeError(f"no login code for {phone}: enable MSGFLEET_DEV_SMS_ENDPOINT on {self.host}")

    def _connect(self, token: str) -> None:
        url = self.host.replace("http", "ws", 1) + "/v1/ws"
        start = time.perf_counter()
        try:
            self.socket = websocket.create_connection(
                url, timeout=10, header=[f"Authorization: Bearer {token}"]
            )
            ready = json.loads(self.socket.recv())
            assert ready.get("type") == "ready", ready
            self.socket.settimeout(None)
            error = None
        except Exception as exc:  # report any connect failure to Locust, then stop this user
            error = exc
        self._fire("WS", "connect", (time.perf_counter() - start) * 1000, error)
        if error is not None:
            raise gevent.GreenletExit
        self.reader = gevent.spawn(self._read)

    def _read(self) -> None:
        while self.socket is not None:
            try:
                text = self.socket.recv()
            except Exception:  # closed by on_stop or by the node
                return
            if not text:
                return
            frame = json.loads(text)
            if frame.get("type") == "event":
                self._on_event(frame["kind"], frame["data"], len(text))

    def _on_event(self, kind: str, data: dict[str, Any], size: int) -> None:
        assert self.account is not None
        if kind == "message.new" and data.get("sender_device") != self.account.device_id:
            sent = sent_at(data.get("ciphertext") or "")
            if sent is not None:
                self._fire("WS", "deliver", (time.time() - sent) * 1000, None, size)
            if data.get("reply_to") is None and asked(data.get("ciphertext") or "") == self.account.device_id:
                self.replies = [g for g in self.replies if not g.dead]
                self.replies.append(gevent.spawn(self._reply, data["chat_id"], int(data["seq"])))
        elif kind == "chat.created" and data.get("kind") == "group" and data["chat_id"] not in self.groups:
            self.groups.append(data["chat_id"])
        elif kind == "channel.post" and data.get("author") != self.account.user_id:
            sent = sent_at(data.get("text") or "")
            if sent is not None:
                self._fire("WS", "deliver:channel", (time.time() - sent) * 1000, None, size)
        elif kind == "call.incoming" and data.get("by") != self.account.user_id:
            self.calls[data["call_id"]] = gevent.spawn(self._answer, data["call_id"])
        elif kind == "call.ended":
            self.in_call.discard(data["call_id"])
            answering = self.calls.pop(data["call_id"], None)
            if answering is not None:
                answering.kill(block=False)

    def _fire(self, kind: str, name: str, ms: float, error: Exception | None, size: int = 0) -> None:
        self.environment.events.request.fire(
            request_type=kind, name=name, response_time=ms, response_length=size, exception=error, context={}
        )

    def _answer(self, call_id: str) -> None:
        """The callee: accept, then keep the leg alive until ``call.ended`` (or the bound)."""
        base = f"/v1/calls/{call_id}"
        resp = self.client.post(f"{base}/accept", headers=self.headers, name="call:accept")
        if resp.status_code != 200:
            return
        self.in_call.add(call_id)
        _, longest = self.scenario.plan.loadtest.call_duration_s
        deadline = time.monotonic() + longest + HEARTBEAT_S
        while time.monotonic() < deadline:
            gevent.sleep(HEARTBEAT_S)
            self.client.post(f"{base}/heartbeat", headers=self.headers, name="call:heartbeat")

    def _reply(self, chat_id: str, seq: int) -> None:
        """Answer a message this device was asked to reply to, after a think time."""
        low, high = self.scenario.plan.loadtest.think_time_s
        gevent.sleep(self.rng.uniform(low, high))
        self._post(chat_id, "msg:reply", reply_to=seq)

    def on_stop(self) -> None:
        """Leave as a person does: out of the partner pool, calls hung up (the node meters them)."""
        if self.account is not None:
            self.scenario.leave(self.account)
        for pending in [*self.calls.values(), *self.replies]:
            pending.kill(block=False)
        for call_id in sorted(self.in_call):
            self._hangup(call_id)
        self.in_call.clear()
        socket, self.socket = self.socket, None
        if socket is not None:
            socket.close()
        if self.reader is not None:
            self.reader.kill(block=False)

    # ----- helpers over the chat API

    def _partner(self) -> Account | None:
        assert self.account is not None
        live = self.scenario.states if self.scenario.cross_state else [self.state]
        state = pick_state(recipient_state_weights(self.scenario.plan, self.state, live), self.rng)
        others = [a for a in self.scenario.accounts.get(state, []) if a.user_id != self.account.user_id]
        return self.rng.choice(others) if others else None

    def _private_chat(self, partner: Account) -> str | None:
        if partner.user_id in self.private:
            return self.private[partner.user_id]
        body = {"kind": "private", "members": [partner.user_id]}
        cross = partner.state != self.state
        name = "chat:open-cross" if cross else "chat:open"
        post = self.client.post
        with post("/v1/chats", json=body, headers=self.headers, name=name, catch_response=True) as r:
            if r.status_code in (200, 201):
                chat_id = str(r.json()["id"])
                self.private[partner.user_id] = chat_id
                return chat_id
            if cross and 400 <= r.status_code < 500:
                r.success()  # the nodes are not federated: keep traffic within each state
                self.scenario.cross_state = False
                print(f"locustfile: cross-state chats refused ({r.status_code}); traffic stays within states")
            else:
                r.failure(f"{r.status_code} {r.text[:200]}")
        return None

    def _devices(self, chat_id: str) -> list[str]:
        """The chat's devices (cached): whom a message may ask for a reply."""
        cached = self.scenario.chat_devices.get(chat_id)
        if cached is not None:
            return cached
        resp = self.client.get(f"/v1/chats/{chat_id}/devices", headers=self.headers, name="chat:devices")
        devices = sorted({str(d["device_id"]) for d in resp.json()}) if resp.status_code == 200 else []
        self.scenario.chat_devices[chat_id] = devices
        return devices

    def _post(self, chat_id: str, name: str, reply_to: int | None = None) -> None:
        assert self.account is not None
        devices = self._devices(chat_id)
        me, ratio = self.account, self.scenario.plan.demand.reply_ratio
        live = [d for d in devices if d in self.scenario.live_devices]  # a stopped device cannot reply
        ask = ask_for_reply(live, me.device_id, ratio, self.rng) if reply_to is None else None
        msg_id = f"{self.account.device_id}-{next(self.scenario.serial)}"
        body = {
            "client_msg_id": msg_id,
            "reply_to": reply_to,
            "ciphertext": fake_ciphertext(me.user_id, ask=ask),  # one per message (Megolm)
            "session_id": FAKE_SESSION,
        }
        path = f"/v1/chats/{chat_id}/messages"
        with self.client.post(path, json=body, headers=self.headers, name=name, catch_response=True) as r:
            if r.status_code not in (200, 201, 202):  # 202: accepted for a peer state's chat
                r.failure(f"{r.status_code} {r.text[:200]}")

    def _join_channels(self) -> None:
        """One in CHANNEL_OWNERS users of a state owns a channel; everyone subscribes to up to two."""
        channels, owners = self.scenario.channels[self.state], self.scenario.channel_owners
        if not owners[self.state] or self.rng.random() < 1 / CHANNEL_OWNERS:
            owners[self.state] += 1  # claimed before the request: users spawn concurrently
            body = {"title": f"load test {self.state}", "description": "news"}
            resp = self.client.post("/v1/channels", json=body, headers=self.headers, name="channel:create")
            if resp.status_code == 201:
                channel_id = str(resp.json()["id"])
                channels.append(channel_id)
                self.owned_channels.append(channel_id)
        self._subscribe()

    def _subscribe(self) -> None:
        channels = [c for c in self.scenario.channels[self.state] if c not in self.owned_channels]
        for channel_id in self.rng.sample(channels, min(2, len(channels))):
            self.client.put(
                f"/v1/channels/{channel_id}/subscription", headers=self.headers, name="channel:subscribe"
            )
            self.subscribed = True

    def _maybe_create_group(self) -> None:
        size = self.scenario.plan.loadtest.group_size
        assert self.account is not None
        others = [a for a in self.scenario.accounts[self.state] if a.user_id != self.account.user_id]
        if len(others) < size - 1 or self.rng.random() >= 1 / size:
            return
        members = [a.user_id for a in self.rng.sample(others, size - 1)]
        body = {"kind": "group", "members": members, "title": "load test"}
        resp = self.client.post("/v1/chats", json=body, headers=self.headers, name="chat:create-group")
        if resp.status_code == 201 and (chat_id := str(resp.json()["id"])) not in self.groups:
            self.groups.append(chat_id)

    # ----- behaviours (weights: plan.loadtest.weights)

    def private_send(self) -> None:
        partner = self._partner()
        chat_id = self._private_chat(partner) if partner else None
        if chat_id:
            self._post(chat_id, "msg:private")

    def group_send(self) -> None:
        if self.groups:
            self._post(self.rng.choice(self.groups), "msg:group")

    def read_sync(self) -> None:
        self._read_unread("/v1/chats", "messages", "chats:list", "chat:history", "chat:read")

    def _read_unread(
        self, listing: str, items: str, list_name: str, read_name: str, receipt_name: str
    ) -> None:
        """Open one conversation (chat or channel) with unread items: fetch them, then mark them read."""
        resp = self.client.get(listing, headers=self.headers, name=list_name)
        if resp.status_code != 200:
            return
        unread = [c for c in resp.json() if c["last_seq"] > c["last_read_seq"]]
        if not unread:
            return
        chosen = self.rng.choice(unread)
        base, after = f"{listing}/{chosen['id']}", chosen["last_read_seq"]
        self.client.get(f"{base}/{items}?after={after}&limit=50", headers=self.headers, name=read_name)
        receipt = {"seq": chosen["last_seq"]}
        self.client.post(f"{base}/read", json=receipt, headers=self.headers, name=receipt_name)

    def call(self) -> None:
        """Call a partner for a duration drawn from the plan; the node meters the minutes."""
        chat_id = self._same_state_chat()
        if not chat_id:
            return
        body = {"chat_id": chat_id}
        post = self.client.post
        with post("/v1/calls", json=body, headers=self.headers, name="call:start", catch_response=True) as r:
            if r.status_code == 409 and "call_in_progress" in r.text:
                r.success()  # the partner is calling us right now: a busy line, not a fault
                return
            if r.status_code != 201:
                r.failure(f"{r.status_code} {r.text[:200]}")
                return
            call_id = r.json()["id"]
        self.in_call.add(call_id)  # hung up by on_stop if this user stops mid-call
        base = f"/v1/calls/{call_id}"
        low, high = self.scenario.plan.loadtest.call_duration_s
        end = time.monotonic() + self.rng.uniform(low, high)
        while (left := end - time.monotonic()) > 0:
            gevent.sleep(min(left, HEARTBEAT_S))
            if end - time.monotonic() > 0:
                self.client.post(f"{base}/heartbeat", headers=self.headers, name="call:heartbeat")
        self._hangup(call_id)

    def _hangup(self, call_id: str) -> None:
        """End a call this device is in; a call the other side already ended (409) is no failure."""
        self.in_call.discard(call_id)
        path = f"/v1/calls/{call_id}/hangup"
        with self.client.post(path, headers=self.headers, name="call:hangup", catch_response=True) as r:
            if r.status_code == 409:
                r.success()

    def _same_state_chat(self) -> str | None:
        """A private chat with a partner homed in this user's state (calls and media stay local)."""
        partner = self._partner()
        return self._private_chat(partner) if partner and partner.state == self.state else None

    def media_send(self) -> None:
        """Send a photo: upload it end-to-end encrypted, shared into a private chat, then a message that
        refers to it (the node stores the bytes opaque: a photo's bytes stand in for its ciphertext)."""
        chat_id = self._same_state_chat()
        if not chat_id:
            return
        path = f"/v1/media?kind=photo&encrypted=true&chat_id={chat_id}"
        headers = {**self.headers, "Content-Type": "application/octet-stream"}
        body = photo(self.rng)  # raw bytes: geventhttpclient sends them as they are
        resp = self.client.post(path, data=body, headers=headers, name="media:upload")  # type: ignore[arg-type]
        if resp.status_code in (200, 201):
            self._post(chat_id, "msg:media")

    def channel_post(self) -> None:
        """Owners broadcast to their subscribers (the text carries the send time); others read."""
        if not self.owned_channels:
            return self.channel_read()
        channel_id = self.rng.choice(self.owned_channels)
        text = fake_ciphertext(self.state, size=120)  # base64 text: the post's body, with its send time
        path = f"/v1/channels/{channel_id}/posts"
        with self.client.post(path, json={"text": text}, headers=self.headers, name="channel:post",
                              catch_response=True) as r:  # fmt: skip
            if r.status_code != 202:
                r.failure(f"{r.status_code} {r.text[:200]}")

    def channel_read(self) -> None:
        if not self.subscribed:  # channels created while this user was signing up
            self._subscribe()
        self._read_unread("/v1/channels", "posts", "channels:list", "channel:posts", "channel:read")

    def idle(self) -> None:
        """A connected device that does nothing this turn (its socket stays open)."""


TASKS = {
    "private_send": MessengerUser.private_send,
    "group_send": MessengerUser.group_send,
    "read_sync": MessengerUser.read_sync,
    "call": MessengerUser.call,
    "media_send": MessengerUser.media_send,
    "channel_post": MessengerUser.channel_post,
    "channel_read": MessengerUser.channel_read,
    "idle": MessengerUser.idle,
}


def user_classes() -> list[type[User]]:
    """The user classes of this scenario (for loadtests.runner)."""
    return [MessengerUser]
