"""``msgfleet-client`` (also ``msgfleet client``): the reference client as commands a person can run.

Each command loads the device from the profile directory (``--profile``, ``$MSGFLEET_CLIENT_PROFILE``,
default ``~/.msgfleet-client``), does its work against the node over HTTP and saves the device back
(its keys and event cursor change as it works). Every failure is one line on stderr and exit status 1.
docs/CLIENT.md describes the commands. As in every ``cli.py`` (msgfleet/cli.py), the heavy imports
(HTTP, crypto, Pillow, the importer) happen inside the commands, so ``msgfleet --help`` stays quick.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from messenger.client.client import MessengerClient
    from messenger.client.profile import Profile

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Messenger client: log in, chat, send photos and voice notes, call signalling, WhatsApp import.",
)
call_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Call signalling (no media).")
app.add_typer(call_app, name="call")

Opt, Arg = typer.Option, typer.Argument
T = TypeVar("T")
DEFAULT_NODE = "http://127.0.0.1:8080"


class CliError(Exception):
    """A failure to print as one line."""


@cache
def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, markup=False)  # what is printed is the user's text


def _print(what: object) -> None:
    _console().print(what)


def _e164(phone: str) -> str:
    from messenger.imports.mapping import e164

    number = e164(phone)
    if number is None:
        raise _fail(f"{phone!r} is not an international phone number (+country...)")
    return number


@app.callback()
def _options(
    ctx: typer.Context,
    profile: Annotated[
        Path | None,
        Opt(
            help="Profile directory of this device (default $MSGFLEET_CLIENT_PROFILE or ~/.msgfleet-client)."
        ),
    ] = None,
) -> None:
    ctx.obj = profile or Path(os.environ.get("MSGFLEET_CLIENT_PROFILE") or Path.home() / ".msgfleet-client")


def _profile(ctx: typer.Context) -> Profile:
    from messenger.client.profile import Profile

    return Profile(ctx.obj)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"msgfleet-client: {' '.join(message.split())}", err=True)
    return typer.Exit(1)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; any expected failure becomes one line and exit status 1."""
    import httpx

    from messenger.client.attachments import AttachmentError
    from messenger.client.client import ApiFailure
    from messenger.client.crypto import DecryptError
    from messenger.client.profile import ProfileError
    from messenger.imports.mapping import MappingError
    from messenger.imports.whatsapp import ExportFormatError

    try:
        return asyncio.run(coro)
    except ApiFailure as exc:
        raise _fail(f"the node refused: {exc.detail} ({exc.error}, HTTP {exc.status})") from None
    except httpx.TransportError as exc:
        raise _fail(f"cannot reach the node: {exc or type(exc).__name__}") from None
    except (
        CliError,
        DecryptError,
        ProfileError,
        AttachmentError,
        ExportFormatError,
        MappingError,
        LookupError,
    ) as exc:
        raise _fail(str(exc).strip("'\"")) from None


async def _with_client(profile: Profile, work: Callable[[MessengerClient], Awaitable[T]]) -> T:
    """Load the profile's device, run ``work`` and save the device's state back."""
    client = profile.load()
    try:
        return await work(client)
    finally:
        profile.save(client)
        await client.close()


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read ({exc.strerror or exc})") from None


async def _chat(client: MessengerClient, chat: str) -> str:
    """``chat``: a chat id, or the title of one of my chats (if only one has it)."""
    rows = await client.request("GET", "/v1/chats")
    if any(r["id"] == chat for r in rows):
        return chat
    titled = [r["id"] for r in rows if r.get("title") == chat]
    if len(titled) == 1:
        return str(titled[0])
    raise CliError(
        f"chat {chat!r}: {'several chats have that title' if titled else 'no such chat'} (see `chats`)"
    )


# --- account -----------------------------------------------------------------------------------------------


@app.command()
def login(
    ctx: typer.Context,
    phone: Annotated[str, Arg(help="Your phone number, international format (+79991234567).")],
    node: Annotated[str, Opt(help="The node's URL.", envvar="MSGFLEET_NODE_URL")] = DEFAULT_NODE,
    code: Annotated[
        str | None, Opt(help="The login code from the SMS (else --sms-file / --dev-sms / a prompt).")
    ] = None,
    sms_file: Annotated[
        Path | None, Opt(help="Development: read the code from the node's sms.jsonl sink.")
    ] = None,
    dev_sms: Annotated[
        bool, Opt(help="Development: read the code from the node's /v1/dev/sms endpoint.")
    ] = False,
    device_name: Annotated[str, Opt(help="Name of this device in your device list.")] = "msgfleet-client",
    otp: Annotated[str | None, Opt(help="Second factor (TOTP code or PIN) if the account has one.")] = None,
) -> None:
    """Log in with a code sent by SMS and store this device (token and keys) in the profile."""
    from messenger.client.client import MessengerClient, dev_endpoint_reader, sms_file_reader

    profile = _profile(ctx)
    number = _e164(phone)

    async def typed(_phone: str) -> str:
        return code if code is not None else str(typer.prompt(f"code sent to {number}"))

    reader = sms_file_reader(sms_file) if sms_file else dev_endpoint_reader(node) if dev_sms else typed

    async def work() -> MessengerClient:
        client = await MessengerClient.login(
            node.rstrip("/"), number, reader, device_name=device_name, otp=otp
        )
        profile.save(client)
        await client.close()
        return client

    client = _run(work())
    _print(f"logged in as {number}: user {client.user_id}, device {client.device_id} ({profile.path})")


@app.command("link-device")
def link_device(
    ctx: typer.Context,
    phone: Annotated[str, Arg(help="The account to join: its phone number (+79991234567).")],
    node: Annotated[str, Opt(help="The node's URL.", envvar="MSGFLEET_NODE_URL")] = DEFAULT_NODE,
    device_name: Annotated[str, Opt(help="Name of this device in your device list.")] = "msgfleet-client",
    poll_seconds: Annotated[float, Opt(min=0.05, help="Pause between polls for the approval.")] = 2.0,
    qr: Annotated[bool, Opt(help="Draw the code as a QR code (segno) too.")] = True,
) -> None:
    """Sign this device in without SMS: show a code (text and QR) that a signed-in device of the account
    approves (``approve-device``), then store this device (token and its own keys) in the profile."""
    import segno

    from messenger.client.client import MessengerClient

    profile = _profile(ctx)
    number, base = _e164(phone), node.rstrip("/")

    async def work() -> MessengerClient:
        link = await MessengerClient.start_device_link(base, number, device_name=device_name)
        typer.echo(f"code {link['code']}: approve it on a signed-in device of {number}", err=True)
        if qr:
            segno.make(link["qr_payload"]).terminal(out=sys.stderr, compact=True)
        while (client := await MessengerClient.finish_device_link(base, link)) is None:
            await asyncio.sleep(poll_seconds)
        client.phone = number
        profile.save(client)
        await client.close()
        return client

    client = _run(work())
    _print(f"linked to {number}: user {client.user_id}, device {client.device_id} ({profile.path})")


@app.command("approve-device")
def approve_device(
    ctx: typer.Context, code: Annotated[str, Arg(help="The code the new device shows, e.g. 7K3M-Q9XA.")]
) -> None:
    """Approve a new device's code for this device's account (docs/IDENTITY.md)."""
    approved = _run(_with_client(_profile(ctx), lambda client: client.approve_device_link(code)))
    _print(f"approved {approved['device_name']} ({approved['platform']})")


# --- chats and messages ------------------------------------------------------------------------------------


@app.command()
def chats(ctx: typer.Context) -> None:
    """List your chats."""

    async def work(client: MessengerClient) -> list[dict[str, Any]]:
        return list(await client.request("GET", "/v1/chats"))

    from rich.table import Table

    rows = _run(_with_client(_profile(ctx), work))
    table = Table("id", "kind", "title", "messages", "unread", box=None)
    for r in rows:
        unread = r["last_seq"] - r["last_read_seq"]
        table.add_row(r["id"], r["kind"], r.get("title") or "", str(r["last_seq"]), str(unread or ""))
    _print(table)


@app.command()
def chat(
    ctx: typer.Context,
    phone: Annotated[str, Arg(help="The other person's phone number (they must be registered).")],
) -> None:
    """Open (or find) the private chat with a registered phone number; prints its id."""
    from messenger.imports.runner import discover

    number = _e164(phone)

    async def work(client: MessengerClient) -> str:
        found = await discover(client, {number: number})
        if number not in found:
            raise CliError(f"{number} is not registered on this node")
        return await client.open_private(found[number])

    _print(_run(_with_client(_profile(ctx), work)))


@app.command()
def send(
    ctx: typer.Context,
    chat: Annotated[str, Arg(help="Chat id or title.")],
    text: Annotated[str, Arg(help="The message.")],
) -> None:
    """Send an end-to-end encrypted text message."""

    async def work(client: MessengerClient) -> dict[str, Any]:
        return await client.send(await _chat(client, chat), text)

    sent = _run(_with_client(_profile(ctx), work))
    _print(f"sent #{sent['seq']}")


def _describe(media: dict[str, Any]) -> str:
    parts = [str(media.get("kind")), str(media.get("mimetype"))]
    if media.get("width"):
        parts.append(f"{media['width']}x{media['height']}")
    if media.get("duration_ms"):
        parts.append(f"{media['duration_ms'] / 1000:.1f} s")
    parts.append(f"{media.get('size', 0)} bytes")
    if media.get("filename"):
        parts.append(str(media["filename"]))
    return "[" + " ".join(parts) + "]"


@app.command()
def read(
    ctx: typer.Context,
    chat: Annotated[str, Arg(help="Chat id or title.")],
    after: Annotated[int, Opt(help="Only messages after this seq.")] = 0,
) -> None:
    """Print a chat's history, decrypted on this device."""

    async def work(client: MessengerClient) -> tuple[str, list[dict[str, Any]]]:
        return client.user_id, await client.history(await _chat(client, chat), after)

    me, rows = _run(_with_client(_profile(ctx), work))
    for row in rows:
        when = datetime.fromtimestamp(row["ts"], UTC).strftime("%Y-%m-%d %H:%M")
        body = row["body"]
        if body is None:
            _print(f"#{row['seq']} {when} (deleted)")
            continue
        imported = body.get("imported")
        who = (
            f"{imported['author']} (imported)" if imported else "me" if row["sender"] == me else row["sender"]
        )
        media = f" {_describe(body['media'])}" if body.get("media") else ""
        _print(f"#{row['seq']} {when} {who}: {body.get('text') or ''}{media}")


async def _send_file(profile: Profile, chat: str, path: Path, kind: str, caption: str) -> dict[str, Any]:
    from messenger.client import attachments

    data = _read_file(path)

    async def work(client: MessengerClient) -> dict[str, Any]:
        return await attachments.send(
            client, await _chat(client, chat), data, kind, caption=caption, filename=path.name
        )

    return await _with_client(profile, work)


@app.command()
def photo(
    ctx: typer.Context,
    chat: Annotated[str, Arg(help="Chat id or title.")],
    file: Annotated[Path, Arg(help="JPEG, PNG, GIF or WebP.")],
    caption: Annotated[str, Opt(help="Text under the photo.")] = "",
) -> None:
    """Send a photo, encrypted on this device with its thumbnail."""
    sent = _run(_send_file(_profile(ctx), chat, file, "photo", caption))
    _print(f"sent #{sent['seq']}")


@app.command()
def voice(
    ctx: typer.Context,
    chat: Annotated[str, Arg(help="Chat id or title.")],
    file: Annotated[Path, Arg(help="Ogg Opus, M4A, MP3, AAC, AMR, WebM or WAV recording.")],
) -> None:
    """Send a voice note, encrypted on this device (duration, and a waveform for WAV, made here)."""
    sent = _run(_send_file(_profile(ctx), chat, file, "voice", ""))
    _print(f"sent #{sent['seq']}")


@app.command()
def save(
    ctx: typer.Context,
    chat: Annotated[str, Arg(help="Chat id or title.")],
    seq: Annotated[int, Arg(help="The message's number (see `read`).")],
    file: Annotated[Path, Arg(help="Where to write the decrypted file.")],
    thumbnail: Annotated[bool, Opt(help="Save the photo's thumbnail instead.")] = False,
) -> None:
    """Download, check and decrypt the attachment of a message."""
    from messenger.client import attachments

    async def work(client: MessengerClient) -> bytes:
        chat_id = await _chat(client, chat)
        rows = [r for r in await client.history(chat_id, seq - 1) if r["seq"] == seq]
        media = rows[0]["body"].get("media") if rows and rows[0]["body"] else None
        if media is None:
            raise CliError(f"message #{seq} of {chat} has no attachment")
        if thumbnail and "thumbnail" not in media:
            raise CliError(f"message #{seq} of {chat} has no thumbnail")
        return await attachments.download(client, chat_id, media["thumbnail"] if thumbnail else media)

    data = _run(_with_client(_profile(ctx), work))
    try:
        file.write_bytes(data)
    except OSError as exc:
        raise _fail(f"{file}: cannot write ({exc.strerror or exc})") from None
    _print(f"saved {len(data)} bytes to {file}")


# --- keys and verification ---------------------------------------------------------------------------------


async def _user(client: MessengerClient, who: str) -> str:
    """``who``: a user id, or the phone number of a registered user (contact discovery)."""
    if "@" in who:
        return who
    from messenger.imports.runner import discover

    number = _e164(who)
    found = await discover(client, {number: number})
    if number not in found:
        raise CliError(f"{number} is not registered on this node")
    return found[number]


@app.command()
def devices(ctx: typer.Context, who: Annotated[str, Arg(help="Phone number or user id.")]) -> None:
    """A user's devices from the key directory (each identity key's signature checked)."""

    async def work(client: MessengerClient) -> list[dict[str, Any]]:
        user = await _user(client, who)
        return await client.user_devices(user)

    for row in _run(_with_client(_profile(ctx), work)):
        verified = ", ".join(row.get("identity_verified_by") or []) or "-"
        _print(f"{row['user_id']} {row['device_id']} signing key {row['signing_key']} (identity: {verified})")


@app.command()
def fingerprint(ctx: typer.Context, who: Annotated[str, Arg(help="Phone number or user id.")]) -> None:
    """A user's safety number over their devices' keys: compare it with theirs in person."""

    async def work(client: MessengerClient) -> str:
        return await client.fingerprint(await _user(client, who))

    _print(_run(_with_client(_profile(ctx), work)))


@app.command()
def verify(
    ctx: typer.Context,
    who: Annotated[str, Arg(help="Phone number or user id of the device's owner (yours too).")],
    device: Annotated[str, Arg(help="The device id to verify (see `devices`).")],
    initiate: Annotated[bool, Opt(help="Start the verification (the other side runs it without).")] = False,
    timeout: Annotated[float, Opt(help="Seconds to wait for the other device.")] = 120,
) -> None:
    """Verify a device by SAS: both screens show the same numbers, you confirm that they match."""
    from messenger.client.client import SasCodes
    from messenger.client.crypto import VerificationFailed

    async def confirm(codes: SasCodes) -> bool:
        shown = " ".join(str(n) for n in codes.decimals)
        return typer.confirm(f"does the other screen show {shown}?", err=True)

    async def work(client: MessengerClient) -> str:
        user = await _user(client, who)
        try:
            await client.verify(user, device, confirm=confirm, initiate=initiate, timeout=timeout)
        except VerificationFailed as exc:
            raise CliError(f"verification of {device} failed: {exc}") from None
        return f"verified {user} {device}"

    _print(_run(_with_client(_profile(ctx), work)))


@app.command()
def backup(
    ctx: typer.Context,
    recovery_key: Annotated[
        str | None, Opt(help="Your recovery key; without it a new one is made and printed once.")
    ] = None,
) -> None:
    """Back up this device's room keys to the node, encrypted to your recovery key."""
    from messenger.client.crypto import new_recovery_key

    key = recovery_key or new_recovery_key()
    count = _run(_with_client(_profile(ctx), lambda client: client.backup_keys(key)))
    if recovery_key is None:
        typer.echo(f"recovery key (write it down; the node never sees it): {key}", err=True)
    _print(f"backed up {count} room keys")


@app.command()
def restore(ctx: typer.Context, recovery_key: Annotated[str, Arg(help="Your recovery key.")]) -> None:
    """Restore room keys from the node's backup (e.g. on a new device) with your recovery key."""
    count = _run(_with_client(_profile(ctx), lambda client: client.restore_keys(recovery_key)))
    _print(f"restored {count} room keys")


# --- calls -------------------------------------------------------------------------------------------------


def _sdp(path: Path | None, kind: str) -> dict[str, Any] | None:
    return None if path is None else {"type": kind, "sdp": _read_file(path).decode("utf-8", "replace")}


def _print_call(record: dict[str, Any]) -> None:
    status = ", ".join(f"{p['user_id']} {p['status']}" for p in record.get("participants", []))
    _print(f"call {record['id']} {record['state']}" + (f": {status}" if status else ""))


@call_app.command("start")
def call_start(
    ctx: typer.Context,
    chat: Annotated[str, Arg(help="Chat id or title.")],
    video: Annotated[bool, Opt(help="A video call (default audio).")] = False,
    sdp: Annotated[Path | None, Opt(help="An SDP offer file to relay to the callees.")] = None,
) -> None:
    """Ring the chat's other members; prints the call id."""

    async def op(client: MessengerClient) -> dict[str, Any]:
        body = {"chat_id": await _chat(client, chat), "media": "video" if video else "audio"}
        record: dict[str, Any] = await client.request("POST", "/v1/calls", json=body)
        if (offer := _sdp(sdp, "offer")) is not None:
            await client.request("POST", f"/v1/calls/{record['id']}/signal", json={"data": offer})
        return record

    _print_call(_run(_with_client(_profile(ctx), op)))


@call_app.command("answer")
def call_answer(
    ctx: typer.Context,
    call_id: Annotated[str, Arg(help="The call's id (see `call list`).")],
    sdp: Annotated[Path | None, Opt(help="An SDP answer file to relay to the caller.")] = None,
) -> None:
    """Answer a ringing call with this device."""

    async def op(client: MessengerClient) -> dict[str, Any]:
        record: dict[str, Any] = await client.request("POST", f"/v1/calls/{call_id}/accept")
        if (answer := _sdp(sdp, "answer")) is not None:
            to = {"to_user": record["created_by"]}
            await client.request("POST", f"/v1/calls/{call_id}/signal", json={"data": answer, **to})
        return record

    _print_call(_run(_with_client(_profile(ctx), op)))


@call_app.command("hangup")
def call_hangup(ctx: typer.Context, call_id: Annotated[str, Arg(help="The call's id.")]) -> None:
    """Hang up (ends a direct call; leaves a group call)."""

    async def op(client: MessengerClient) -> dict[str, Any]:
        record: dict[str, Any] = await client.request("POST", f"/v1/calls/{call_id}/hangup")
        return record

    _print_call(_run(_with_client(_profile(ctx), op)))


@call_app.command("list")
def call_list(ctx: typer.Context, chat: Annotated[str, Arg(help="Chat id or title.")]) -> None:
    """The chat's calls, newest first."""

    async def work(client: MessengerClient) -> list[dict[str, Any]]:
        return list(await client.request("GET", f"/v1/chats/{await _chat(client, chat)}/calls"))

    for record in _run(_with_client(_profile(ctx), work)):
        _print_call(record)


@call_app.command("signals")
def call_signals(ctx: typer.Context) -> None:
    """Print the call signals (SDP offers/answers, ICE) that arrived since the last look, one JSON a line."""

    async def work(client: MessengerClient) -> list[dict[str, Any]]:
        return [e for e in await client.sync() if e["kind"].startswith("call.")]

    for event in _run(_with_client(_profile(ctx), work)):
        _print(json.dumps({"kind": event["kind"], **event["data"]}))


# --- WhatsApp import ---------------------------------------------------------------------------------------


def _ask_numbers(authors: list[str]) -> dict[str, str]:
    """Prompt for the number of each author (empty: keep the name only)."""
    from messenger.imports.mapping import e164

    found: dict[str, str] = {}
    for author in authors:
        while True:
            answer = str(
                typer.prompt(f"phone number of {author!r} (empty: keep as a name)", default="")
            ).strip()
            if not answer:
                break
            if (number := e164(answer)) is not None:
                found[author] = number
                break
            typer.echo(f"{answer!r} is not an international phone number (+country...)", err=True)
    return found


@app.command("import-whatsapp")
def import_whatsapp_cmd(
    ctx: typer.Context,
    export: Annotated[Path, Arg(help="The exported chat: WhatsApp's .txt, or the .zip with its media.")],
    chat: Annotated[
        str | None, Opt(help="Import into this existing chat (id) — e.g. to resume — not a new one.")
    ] = None,
    title: Annotated[str | None, Opt(help="Title of the new chat (default: the export's name).")] = None,
    map_file: Annotated[
        Path | None, Opt("--map", help="Author name → phone number: YAML `name: +phone` or CSV `name,phone`.")
    ] = None,
    me: Annotated[
        str | None, Opt(help="Your own name in the export (your lines are posted as yours).")
    ] = None,
    prompt: Annotated[
        bool | None, Opt(help="Ask for the numbers of authors still unmapped (default: when interactive).")
    ] = None,
) -> None:
    """Import a WhatsApp export into an end-to-end encrypted group chat with the authors found by number."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from messenger.imports.mapping import MappingError, load_mapping
    from messenger.imports.runner import discover, import_whatsapp, number_named
    from messenger.imports.whatsapp import ExportFormatError, load

    profile = _profile(ctx)
    try:
        loaded = load(export)
    except ExportFormatError as exc:
        raise _fail(str(exc)) from None
    try:
        phones = load_mapping(map_file) if map_file else {}
    except MappingError as exc:
        raise _fail(str(exc)) from None
    if unknown := sorted(set(phones) - set(loaded.authors)):
        typer.echo(f"note: the mapping names authors not in the export: {', '.join(unknown)}", err=True)
    ask = [a for a in loaded.authors if a not in phones and a != me and a not in number_named(loaded.authors)]
    if ask and (prompt if prompt is not None else sys.stdin.isatty()):
        phones |= _ask_numbers(ask)

    async def work(client: MessengerClient) -> list[str]:
        names = await discover(client, {a: p for a, p in phones.items() if p != client.phone})
        names |= {a: client.user_id for a, p in phones.items() if p == client.phone}
        if me is not None:
            names[me] = client.user_id
        notes = [
            f"note: {a} ({p}) is not registered: kept as a name" for a, p in phones.items() if a not in names
        ]
        chat_id = await _chat(client, chat) if chat is not None else None
        columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("import", total=None)
            report = await import_whatsapp(
                client,
                loaded,
                names=names,
                title=title,
                chat_id=chat_id,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        return notes + report.lines()

    for line in _run(_with_client(profile, work)):
        _print(line)


def main() -> None:
    """Console script ``msgfleet-client``."""
    app()
