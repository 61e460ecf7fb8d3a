"""``MessengerClient``: one device of one user, over real HTTP (httpx) and WebSocket (websockets)."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from messenger.client.crypto import DecryptError, DeviceKeys
from messenger.sms import last_code

CodeReader = Callable[[str], Awaitable[str]]


class ApiFailure(Exception):
    """A 4xx/5xx answer: ``status``, ``error`` code, ``detail`` and the response headers."""

    def __init__(self, status: int, error: str, detail: str, headers: httpx.Headers):
        super().__init__(f"{status} {error}: {detail}")
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


def sms_file_reader(path: Path) -> CodeReader:
    """Read login codes from a node's ``sms.jsonl`` sink (same machine)."""

    async def read(phone: str) -> str:
        code = last_code(path, phone)
        if code is None:
            raise LookupError(f"no code for {phone} in {path}")
        return code

    return read


def dev_endpoint_reader(base_url: str) -> CodeReader:
    """Read login codes from ``GET /v1/dev/sms/{phone}`` (node started with ``dev_sms_endpoint``)."""

    async def read(phone: str) -> str:
        async with httpx.AsyncClient(base_url=base_url) as http:
            response = await http.get(f"/v1/dev/sms/{phone}")
            response.raise_for_status()
            return str(response.json()["code"])

    return read


class MessengerClient:
    """A logged-in device. ``cursor`` is the last event it processed (kept across reconnects)."""

    def __init__(self, base_url: str, *, token: str, user_id: str, device_id: str, keys: DeviceKeys):
        self.base_url = base_url.rstrip("/")
        self.token, self.user_id, self.device_id, self.keys = token, user_id, device_id, keys
        self.http = httpx.AsyncClient(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.cursor = 0
        self.phone: str | None = None
        self._devices: dict[str, dict[str, dict[str, Any]]] = {}  # chat id -> device id -> keys

    @classmethod
    async def login(
        cls,
        base_url: str,
        phone: str,
        read_code: CodeReader,
        *,
        device_name: str = "cli",
        platform: str = "python",
        otp: str | None = None,
        keys: DeviceKeys | None = None,
    ) -> MessengerClient:
        """Request a code, read it from the SMS sink, verify, and publish this device's keys."""
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            _check(await http.post("/v1/auth/request-code", json={"phone": phone}))
            body = {
                "phone": phone,
                "code": await read_code(phone),
                "device_name": device_name,
                "platform": platform,
            }
            if otp is not None:
                body["otp"] = otp
            login = _check(await http.post("/v1/auth/verify", json=body))
        client = cls(
            base_url,
            token=login["token"],
            user_id=login["user_id"],
            device_id=login["device_id"],
            keys=keys or DeviceKeys.generate(),
        )
        client.phone = phone
        await client.request("PUT", "/v1/keys", json=client.keys.publication())
        return client

    # --- device sign-in by code (docs/IDENTITY.md) ---------------------------------------------------------

    @staticmethod
    async def start_device_link(
        base_url: str, phone: str, *, device_name: str = "cli", platform: str = "python"
    ) -> dict[str, Any]:
        """A new device asks to join ``phone``'s account: ``{link_id, code, qr_payload, poll_secret,
        expires_at}``; show ``code`` / ``qr_payload`` to the user, keep ``poll_secret``."""
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            body = {"phone": phone, "device_name": device_name, "platform": platform}
            link: dict[str, Any] = _check(await http.post("/v1/devices/link", json=body))
        return link

    async def approve_device_link(self, code: str) -> dict[str, Any]:
        """This (signed-in) device approves ``code`` for its account: ``{link_id, device_name, platform}``."""
        approved: dict[str, Any] = await self.request("POST", f"/v1/devices/link/{code}/approve")
        return approved

    @classmethod
    async def finish_device_link(
        cls, base_url: str, link: dict[str, Any], *, keys: DeviceKeys | None = None
    ) -> MessengerClient | None:
        """One poll of the new device: ``None`` while not approved, else the signed-in client with its
        own keys published (a second call after that is refused: single use)."""
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            body = {"link_id": link["link_id"], "poll_secret": link["poll_secret"]}
            response = await http.post("/v1/devices/link/claim", json=body)
        if response.status_code == 202:
            return None
        login = _check(response)
        client = cls(
            base_url,
            token=login["token"],
            user_id=login["user_id"],
            device_id=login["device_id"],
            keys=keys or DeviceKeys.generate(),
        )
        await client.request("PUT", "/v1/keys", json=client.keys.publication())
        return client

    async def close(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> MessengerClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; raise ``ApiFailure`` for an error answer; return the JSON body (or None)."""
        return _check(await self.http.request(method, path, **kwargs))

    # --- chats ---------------------------------------------------------------------------------------------

    async def open_private(self, user_id: str) -> str:
        return str(
            (await self.request("POST", "/v1/chats", json={"kind": "private", "members": [user_id]}))["id"]
        )

    async def create_group(self, members: list[str], title: str) -> str:
        body = {"kind": "group", "members": members, "title": title}
        return str((await self.request("POST", "/v1/chats", json=body))["id"])

    async def chat_devices(self, chat_id: str, *, refresh: bool = False) -> dict[str, dict[str, Any]]:
        if refresh or chat_id not in self._devices:
            rows = await self.request("GET", f"/v1/chats/{chat_id}/devices")
            self._devices[chat_id] = {r["device_id"]: r for r in rows if r["identity_key"]}
        return self._devices[chat_id]

    async def _envelopes(self, chat_id: str, body: dict[str, object], refresh: bool) -> list[dict[str, str]]:
        devices = await self.chat_devices(chat_id, refresh=refresh)
        sealed = self.keys.seal(
            sender_device=self.device_id,
            chat_id=chat_id,
            body=body,
            recipients={d: r["identity_key"] for d, r in devices.items()},
        )
        return [{"device_id": d, "ciphertext": c} for d, c in sealed.items()]

    async def send(
        self,
        chat_id: str,
        text: str | dict[str, Any],
        *,
        reply_to: int | None = None,
        client_msg_id: str | None = None,
        via: EventSocket | None = None,
    ) -> dict[str, Any]:
        """Encrypt ``text`` (or a whole message body: ``{"text", "media", ...}``, any JSON object) to every
        device of the chat (refetching them once on 409) and post it, over
        HTTP or, given an open ``via`` socket of this device, as a ``message.send`` frame. Returns
        ``{id, seq, ts}``."""
        msg_id = client_msg_id or secrets.token_hex(8)
        for attempt in (0, 1):
            body: dict[str, Any] = {
                "client_msg_id": msg_id,
                "envelopes": await self._envelopes(
                    chat_id, text if isinstance(text, dict) else {"text": text}, attempt > 0
                ),
            }
            if reply_to is not None:
                body["reply_to"] = reply_to
            try:
                if via is not None:
                    return await via.post(chat_id, body)
                result: dict[str, Any] = await self.request(
                    "POST", f"/v1/chats/{chat_id}/messages", json=body
                )
                return result
            except ApiFailure as exc:
                if exc.error != "stale_devices" or attempt:
                    raise
        raise AssertionError("unreachable")

    async def edit(self, chat_id: str, seq: int, text: str) -> None:
        for attempt in (0, 1):
            envelopes = await self._envelopes(chat_id, {"text": text}, attempt > 0)
            try:
                await self.request(
                    "PATCH", f"/v1/chats/{chat_id}/messages/{seq}", json={"envelopes": envelopes}
                )
                return
            except ApiFailure as exc:
                if exc.error != "stale_devices" or attempt:
                    raise

    async def delete(self, chat_id: str, seq: int) -> None:
        await self.request("DELETE", f"/v1/chats/{chat_id}/messages/{seq}")

    async def read(self, chat_id: str, seq: int) -> None:
        await self.request("POST", f"/v1/chats/{chat_id}/read", json={"seq": seq})

    async def history(self, chat_id: str, after: int = 0) -> list[dict[str, Any]]:
        """Messages after ``after`` with their decrypted ``body`` and its ``text`` (None for tombstones)."""
        rows = await self.request("GET", f"/v1/chats/{chat_id}/messages", params={"after": after})
        for row in rows:
            row["body"] = await self.decrypt_body(row) if row["ciphertext"] else None
            row["text"] = None if row["body"] is None else row["body"].get("text")
        return list(rows)

    async def decrypt(self, data: dict[str, Any]) -> str:
        """The text of a ``message.new``/``message.edited`` event (or a history row) for this device."""
        return str((await self.decrypt_body(data)).get("text") or "")

    async def decrypt_body(self, data: dict[str, Any]) -> dict[str, Any]:
        """The whole decrypted body of a message (``text``, ``media``, ``imported`` ...)."""
        if data.get("deleted") or not data.get("ciphertext"):
            raise DecryptError(f"message {data.get('seq')} of {data.get('chat_id')} was deleted")
        chat_id, sender = data["chat_id"], data["sender_device"]
        devices = await self.chat_devices(chat_id)
        if sender not in devices:
            devices = await self.chat_devices(chat_id, refresh=True)
        body = self.keys.open(
            data["ciphertext"],
            sender_device=sender,
            chat_id=chat_id,
            signing_key=devices[sender]["signing_key"],
        )
        return dict(body)

    # --- events --------------------------------------------------------------------------------------------

    async def sync(self, *, timeout: float = 0) -> list[dict[str, Any]]:
        """Long-poll the events after ``cursor`` and advance it."""
        result = await self.request(
            "GET", "/v1/sync", params={"cursor": self.cursor, "timeout": timeout}, timeout=timeout + 30
        )
        self.cursor = result["cursor"]
        return list(result["events"])

    def socket(self, *, resume: bool = True) -> EventSocket:
        """A WebSocket that starts after ``cursor`` (``resume``) or at the device's newest event."""
        return EventSocket(self, self.cursor if resume else None)


class EventSocket:
    """``async with client.socket() as ws: event = await ws.next()``; advances ``client.cursor``."""

    def __init__(self, client: MessengerClient, cursor: int | None):
        self.client, self.start = client, cursor
        self.conn: ClientConnection | None = None
        self.ready: dict[str, Any] = {}
        self._early: deque[dict[str, Any]] = deque()  # frames read while waiting for a reply
        self._ids = itertools.count(1)

    async def post(self, chat_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send a ``message.send`` frame and wait for its reply (events meanwhile wait for ``next``):
        ``{id, seq, ts}`` as the HTTP route answers, or :class:`ApiFailure`."""
        assert self.conn is not None
        ref = next(self._ids)
        await self.conn.send(json.dumps({"type": "message.send", "chat_id": chat_id, "id": ref, **body}))
        while True:
            frame = json.loads(await asyncio.wait_for(self.conn.recv(), 30))
            if frame.get("id") != ref or frame.get("type") == "event":
                self._early.append(frame)
                continue
            if frame.get("type") == "error":
                raise ApiFailure(frame["status"], frame["error"], frame["detail"], httpx.Headers())
            return {"id": frame["message_id"], "seq": frame["seq"], "ts": frame["ts"]}

    async def __aenter__(self) -> EventSocket:
        # The token goes in the first frame, never in the URL (URLs are logged; docs/API.md).
        self.conn = await connect(self.client.base_url.replace("http", "ws", 1) + "/v1/ws")
        auth: dict[str, Any] = {"type": "auth", "token": self.client.token}
        if self.start is not None:
            auth["cursor"] = self.start
        await self.conn.send(json.dumps(auth))
        self.ready = json.loads(await self.conn.recv())
        if self.ready.get("type") != "ready":
            raise ConnectionError(f"unexpected first frame {self.ready}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.conn is not None:
            await self.conn.close()

    async def next(self, *kinds: str, timeout: float = 60) -> dict[str, Any]:
        """The next event frame (of one of ``kinds`` if given; others are skipped but advance the cursor).
        ``TimeoutError`` if none arrives within ``timeout`` s."""
        assert self.conn is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if self._early:
                frame = self._early.popleft()
            else:
                frame = json.loads(await asyncio.wait_for(self.conn.recv(), max(remaining, 0.001)))
            if frame.get("type") == "event":
                self.client.cursor = frame["cursor"]
                if not kinds or frame["kind"] in kinds:
                    return dict(frame)


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
            error, detail = body["error"], body["detail"]
        except (ValueError, KeyError, TypeError):
            error, detail = "http_error", response.text[:200]
        raise ApiFailure(response.status_code, error, detail, response.headers)
    return response.json() if response.content else None
