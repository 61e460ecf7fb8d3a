"""``MessengerClient``: one device of one user, over real HTTP (httpx) and WebSocket (websockets)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import vodozemac as vz
from websockets.asyncio.client import ClientConnection, connect

from messenger.client.crypto import (
    DecryptError,
    DeviceCrypto,
    VerificationFailed,
    canonical,
    recovery_public_key,
    safety_fingerprint,
    verify,
)
from messenger.sms import last_code

CodeReader = Callable[[str], Awaitable[str]]
TO_DEVICE_BATCH = 500  # devices per claim and per to-device send (the node allows max_to_device_messages)


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
    """A logged-in device. ``cursor`` is the last event it processed (kept across reconnects); ``crypto``
    its Olm/Megolm state (``messenger.client.crypto``)."""

    def __init__(self, base_url: str, *, token: str, user_id: str, device_id: str, keys: DeviceCrypto):
        self.base_url = base_url.rstrip("/")
        self.token, self.user_id, self.device_id, self.crypto = token, user_id, device_id, keys
        self.http = httpx.AsyncClient(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.cursor = 0
        self.phone: str | None = None
        self._directory: dict[str, dict[str, Any]] = {}  # device id -> its keys (signature checked)
        self._sas: dict[str, asyncio.Queue[dict[str, Any]]] = {}  # peer device id -> verification messages

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
        keys: DeviceCrypto | None = None,
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
        client = await cls.signed_in(base_url, login, keys)
        client.phone = phone
        return client

    @classmethod
    async def signed_in(
        cls, base_url: str, login: dict[str, Any], keys: DeviceCrypto | None = None
    ) -> MessengerClient:
        """The client of a new device's login answer (``user_id``, ``device_id``, ``token``), its keys
        (made here unless given) published to the directory."""
        client = cls(
            base_url,
            token=login["token"],
            user_id=login["user_id"],
            device_id=login["device_id"],
            keys=keys or DeviceCrypto.generate(),
        )
        await client.request("PUT", "/v1/keys", json=client.crypto.publication())
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
        cls, base_url: str, link: dict[str, Any], *, keys: DeviceCrypto | None = None
    ) -> MessengerClient | None:
        """One poll of the new device: ``None`` while not approved, else the signed-in client with its
        own keys published (a second call after that is refused: single use)."""
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            body = {"link_id": link["link_id"], "poll_secret": link["poll_secret"]}
            response = await http.post("/v1/devices/link/claim", json=body)
        if response.status_code == 202:
            return None
        return await cls.signed_in(base_url, _check(response), keys)

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

    async def chat_devices(self, chat_id: str) -> dict[str, dict[str, Any]]:
        """The chat's member devices with published keys (each identity key's signature checked)."""
        rows = await self.request("GET", f"/v1/chats/{chat_id}/devices")
        return {r["device_id"]: self._known(r) for r in rows if r["identity_key"]}

    def _known(self, row: dict[str, Any]) -> dict[str, Any]:
        known = self._directory.get(row["device_id"])
        if known is not None and known["identity_key"] == row["identity_key"]:
            return known
        verify(row["signing_key"], row["identity_key"], row.get("identity_signature") or "", "identity key")
        self._directory[row["device_id"]] = row
        return row

    async def device_keys(self, user_id: str, device_id: str) -> dict[str, Any]:
        """A device's keys from the directory (cached once its signature checked)."""
        if device_id not in self._directory:
            rows = await self.request("GET", f"/v1/users/{user_id}/devices", params={"claim": "false"})
            for row in rows:
                if row["identity_key"]:
                    self._known(row)
        if device_id not in self._directory:
            raise DecryptError(f"device {device_id} of {user_id} has no keys in the directory")
        return self._directory[device_id]

    async def user_devices(self, user_id: str) -> list[dict[str, Any]]:
        """The user's devices with published keys, from the directory (each signature checked)."""
        rows = await self.request("GET", f"/v1/users/{user_id}/devices", params={"claim": "false"})
        return [self._known(r) for r in rows if r["identity_key"]]

    async def fingerprint(self, user_id: str) -> str:
        """The user's safety number (``crypto.safety_fingerprint``) over their devices' signing keys."""
        return safety_fingerprint(user_id, [r["signing_key"] for r in await self.user_devices(user_id)])

    async def _encrypted(self, chat_id: str, body: Any) -> dict[str, str]:
        """Encrypt ``body`` with the chat's outbound Megolm session, first sharing its key over Olm with
        the chat's devices that do not have it (a new device, or everyone after a rotation)."""
        devices = await self.chat_devices(chat_id)
        outbound = self.crypto.outbound_for(
            chat_id,
            device_id=self.device_id,
            devices=set(devices),
            members=frozenset(r["user_id"] for r in devices.values()),
        )
        need = sorted(d for d in devices if d not in outbound.shared_with and d != self.device_id)
        if need:
            sent = await self.send_to_devices(
                {d: devices[d] for d in need}, self.crypto.room_key(chat_id, outbound)
            )
            outbound.shared_with.update(sent)  # a device without a key to claim is tried again next time
        return {
            "ciphertext": self.crypto.encrypt(outbound, chat_id, body),
            "session_id": str(outbound.session.session_id),
        }

    async def send_to_devices(self, devices: dict[str, dict[str, Any]], payload: dict[str, Any]) -> list[str]:
        """Olm-encrypt ``payload`` to each device (claiming a one-time key where no session exists yet)
        and send it through ``PUT /v1/sendToDevice/{txn}``, in batches of the node's limit. Returns the
        devices it went to (not those with no session and no key to claim)."""
        missing = [d for d, r in devices.items() if not self.crypto.has_session(r["identity_key"])]
        for start in range(0, len(missing), TO_DEVICE_BATCH):
            wanted: dict[str, list[str]] = {}
            for d in missing[start : start + TO_DEVICE_BATCH]:
                wanted.setdefault(devices[d]["user_id"], []).append(d)
            claimed = await self.request("POST", "/v1/keys/claim", json={"devices": wanted})
            for device_id, key in claimed.items():
                row = devices[device_id]
                self.crypto.open_session(
                    row["identity_key"], row["signing_key"], key["key"], key["signature"]
                )
        ready = [d for d, r in devices.items() if self.crypto.has_session(r["identity_key"])]
        for start in range(0, len(ready), TO_DEVICE_BATCH):
            messages: dict[str, dict[str, str]] = {}
            for d in ready[start : start + TO_DEVICE_BATCH]:
                messages.setdefault(devices[d]["user_id"], {})[d] = self.crypto.olm_encrypt(
                    devices[d]["identity_key"],
                    {**payload, "sender_device": self.device_id, "recipient_device": d},
                )
            await self.request(
                "PUT", f"/v1/sendToDevice/{secrets.token_hex(16)}", json={"messages": messages}
            )
        return ready

    async def send(
        self,
        chat_id: str,
        body: str | dict[str, Any],
        *,
        reply_to: int | None = None,
        client_msg_id: str | None = None,
        via: EventSocket | None = None,
    ) -> dict[str, Any]:
        """Encrypt ``body`` (a JSON-able object, or a text for ``{"text": ...}``) with Megolm and post it,
        over HTTP or, given an open ``via`` socket of this device, as a ``message.send`` frame. Returns
        ``{id, seq, ts}``."""
        message: dict[str, Any] = {
            "client_msg_id": client_msg_id or secrets.token_hex(8),
            **await self._encrypted(chat_id, {"text": body} if isinstance(body, str) else body),
        }
        if reply_to is not None:
            message["reply_to"] = reply_to
        if via is not None:
            return await via.post(chat_id, message)
        result: dict[str, Any] = await self.request("POST", f"/v1/chats/{chat_id}/messages", json=message)
        return result

    async def edit(self, chat_id: str, seq: int, body: str | dict[str, Any]) -> None:
        encrypted = await self._encrypted(chat_id, {"text": body} if isinstance(body, str) else body)
        await self.request("PATCH", f"/v1/chats/{chat_id}/messages/{seq}", json=encrypted)

    async def delete(self, chat_id: str, seq: int) -> None:
        await self.request("DELETE", f"/v1/chats/{chat_id}/messages/{seq}")

    async def read(self, chat_id: str, seq: int) -> None:
        await self.request("POST", f"/v1/chats/{chat_id}/read", json={"seq": seq})

    async def history(self, chat_id: str, after: int = 0) -> list[dict[str, Any]]:
        """Messages after ``after`` with ``body`` and ``text`` decrypted (None for tombstones and for
        messages whose room key this device was not given)."""
        rows = await self.request("GET", f"/v1/chats/{chat_id}/messages", params={"after": after})
        for row in rows:
            try:
                row["body"] = await self.decrypt_body(row) if row["ciphertext"] else None
            except DecryptError:
                row["body"] = None
            row["text"] = row["body"].get("text") if isinstance(row["body"], dict) else None
        return list(rows)

    async def decrypt_body(self, data: dict[str, Any]) -> Any:
        """The body of a ``message.new``/``message.edited`` event (or a history row)."""
        if data.get("deleted") or not data.get("ciphertext"):
            raise DecryptError(f"message {data.get('seq')} of {data.get('chat_id')} was deleted")
        if data["session_id"] not in self.crypto.inbound:
            await self._pending_keys()
        return self.crypto.decrypt(
            chat_id=data["chat_id"],
            sender_device=data["sender_device"],
            session_id=data["session_id"],
            ciphertext=data["ciphertext"],
        )

    async def decrypt(self, data: dict[str, Any]) -> str:
        """The text of a ``message.new``/``message.edited`` event (or a history row) for this device."""
        body = await self.decrypt_body(data)
        return str(body.get("text") or "") if isinstance(body, dict) else ""

    async def _pending_keys(self) -> None:
        """Open the ``to_device`` events after ``cursor`` without consuming the others (the caller reads
        them later): a message can be read before the events that brought its key. An Olm message
        opened twice is dropped the second time (its key is spent)."""
        result = await self.request("GET", "/v1/sync", params={"cursor": self.cursor, "limit": 1000})
        for event in result["events"]:
            await self.process(event)

    async def process(self, event: dict[str, Any]) -> None:
        """Act on an event: a ``to_device`` message is opened with Olm; a room key is imported, a
        verification message queued for :meth:`verify`. One that does not open is dropped (as Matrix
        clients do): the sender shares again to a device without the key."""
        if event.get("kind") != "to_device":
            return
        data = event["data"]
        try:
            keys = await self.device_keys(data["sender"], data["sender_device"])
            payload = self.crypto.olm_decrypt(keys["identity_key"], data["ciphertext"])
        except DecryptError:
            return
        if (
            payload.get("sender_device") != data["sender_device"]
            or payload.get("recipient_device") != self.device_id
        ):
            return  # forwarded from elsewhere
        if payload.get("type") == "room_key":
            with contextlib.suppress(DecryptError):
                self.crypto.import_room_key(payload["chat_id"], data["sender_device"], payload["session_key"])
        elif str(payload.get("type", "")).startswith("sas."):
            self._sas.setdefault(data["sender_device"], asyncio.Queue()).put_nowait(
                {**payload, "sender": data["sender"]}
            )

    # --- verification (SAS) --------------------------------------------------------------------------------

    async def verify(
        self,
        user_id: str,
        device_id: str,
        *,
        confirm: Callable[[SasCodes], Awaitable[bool]],
        initiate: bool,
        timeout: float = 60,
    ) -> None:
        """Verify another device (of this user or another) by SAS, as Matrix's ``m.sas.v1``: the
        responder commits to its ephemeral key, both exchange keys over Olm to-device messages, both
        show the same emoji/decimals (``confirm`` returns whether the person saw them match on both
        screens), then each sends a MAC of its Ed25519 key, which the other checks against the key the
        directory gave it. Raises :class:`VerificationFailed` on a mismatch, a cancel or a bad MAC."""
        peer = await self.device_keys(user_id, device_id)
        queue = self._sas.setdefault(device_id, asyncio.Queue())
        sas = vz.Sas()
        mine = sas.public_key.to_base64()

        async def send(payload: dict[str, Any]) -> None:
            await self.send_to_devices({device_id: peer}, payload)

        async def receive(kind: str) -> dict[str, Any]:
            deadline = asyncio.get_running_loop().time() + timeout
            while queue.empty():
                if asyncio.get_running_loop().time() > deadline:
                    raise VerificationFailed(f"no {kind} from {device_id} within {timeout} s")
                await self.sync(timeout=1)
            message = queue.get_nowait()
            if message["type"] == "sas.cancel":
                raise VerificationFailed(f"{device_id} cancelled: {message.get('reason')}")
            if message["type"] != kind:
                await send({"type": "sas.cancel", "reason": "unexpected message"})
                raise VerificationFailed(f"expected {kind} from {device_id}, got {message['type']}")
            return message

        if initiate:
            start = {"type": "sas.start", "txn": secrets.token_hex(8)}
            await send(start)
            commitment = (await receive("sas.accept"))["commitment"]
            await send({"type": "sas.key", "key": mine})
            theirs = (await receive("sas.key"))["key"]
            if _commitment(theirs, start) != commitment:
                await send({"type": "sas.cancel", "reason": "commitment mismatch"})
                raise VerificationFailed(f"{device_id}'s key does not match its commitment")
            first, second = (self.user_id, self.device_id, mine), (user_id, device_id, theirs)
        else:
            start = await receive("sas.start")
            await send({"type": "sas.accept", "commitment": _commitment(mine, start)})
            theirs = (await receive("sas.key"))["key"]
            await send({"type": "sas.key", "key": mine})
            first, second = (user_id, device_id, theirs), (self.user_id, self.device_id, mine)
        try:
            established = sas.diffie_hellman(vz.Curve25519PublicKey.from_base64(theirs))
        except (vz.KeyException, ValueError) as exc:
            raise VerificationFailed(f"{device_id} sent a bad SAS key: {exc}") from exc
        info = "MSGFLEET_SAS_V1|" + "|".join([*first, *second, start["txn"]])
        shown = established.bytes(info)
        if not await confirm(SasCodes(tuple(shown.emoji_indices), tuple(shown.decimals))):
            await send({"type": "sas.cancel", "reason": "codes do not match"})
            raise VerificationFailed(f"the codes shown for {device_id} did not match")
        await send(
            {
                "type": "sas.mac",
                "mac": established.calculate_mac(self.crypto.signing_key, f"{info}|{self.device_id}"),
            }
        )
        mac = (await receive("sas.mac"))["mac"]
        try:
            established.verify_mac(peer["signing_key"], f"{info}|{device_id}", mac)
        except vz.SasException as exc:
            raise VerificationFailed(f"{device_id}'s signing key is not the one the directory gave") from exc
        self.crypto.verified.add(device_id)

    # --- key backup -----------------------------------------------------------------------------------------

    async def backup_keys(self, recovery_key: str) -> int:
        """Upload every room key this device holds, encrypted to ``recovery_key`` (a new backup version
        if the node's current one is for another key); returns how many."""
        public = recovery_public_key(recovery_key)
        try:
            current = await self.request("GET", "/v1/keys/backup/version")
        except ApiFailure as exc:
            if exc.status != 404:
                raise
            current = None
        if current is None or current["public_key"] != public:
            current = await self.request("POST", "/v1/keys/backup/version", json={"public_key": public})
        blobs = self.crypto.backup_blobs(public)
        await self.request("PUT", "/v1/keys/backup", json={"version": current["version"], "sessions": blobs})
        return len(blobs)

    async def restore_keys(self, recovery_key: str) -> int:
        """Import the room keys of the node's current backup (e.g. on a new device); returns how many."""
        backup = await self.request("GET", "/v1/keys/backup")
        if backup["public_key"] != recovery_public_key(recovery_key):
            raise DecryptError(f"backup version {backup['version']} is for another recovery key")
        return self.crypto.restore_blobs(recovery_key, backup["sessions"])

    # --- events --------------------------------------------------------------------------------------------

    async def sync(self, *, timeout: float = 0) -> list[dict[str, Any]]:
        """Long-poll the events after ``cursor`` and advance it (``to_device`` events are processed)."""
        result = await self.request(
            "GET", "/v1/sync", params={"cursor": self.cursor, "timeout": timeout}, timeout=timeout + 30
        )
        self.cursor = result["cursor"]
        for event in result["events"]:
            await self.process(event)
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
        """The next event frame (of one of ``kinds`` if given; others are skipped but advance the cursor;
        ``to_device`` events are processed first).
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
                await self.client.process(frame)
                if not kinds or frame["kind"] in kinds:
                    return dict(frame)


@dataclass(frozen=True)
class SasCodes:
    """What both screens show: 7 indices into Matrix's SAS emoji table (https://spec.matrix.org/v1.9/
    client-server-api/#sas-method-emoji) and 3 four-digit numbers (1000..9191)."""

    emoji: tuple[int, ...]
    decimals: tuple[int, ...]


def _commitment(key: str, start: dict[str, Any]) -> str:
    """The responder's commitment to its SAS key, bound to the verification's ``txn``."""
    return hashlib.sha256(canonical([key, start["txn"]])).hexdigest()


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
            error, detail = body["error"], body["detail"]
        except (ValueError, KeyError, TypeError):
            error, detail = "http_error", response.text[:200]
        raise ApiFailure(response.status_code, error, detail, response.headers)
    return response.json() if response.content else None
