"""Import a parsed WhatsApp export into a new chat from the user's device, end-to-end encrypted.

Order: parse and check everything (``whatsapp.load``), encrypt and upload the media
(``messenger.client.attachments``: the node gets opaque bytes, the keys travel in the messages), create
the chat with the mapped contacts, share the media, then post each message end-to-end encrypted. A malformed
export fails in the first step, before the node has seen anything. Each message's ``client_msg_id``
derives from the export's hash and line, so re-running ``import_whatsapp(..., chat_id=...)`` after a
lost connection resumes without duplicates; lines of other authors than the importer carry the
``import:`` prefix, so deleting the importer's account leaves them in the chat (docs/API.md).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from messenger.client import attachments
from messenger.client.attachments import AttachmentError
from messenger.client.client import ApiFailure, MessengerClient
from messenger.datarights.chats import IMPORTED
from messenger.imports.whatsapp import Export, Skipped, load
from messenger.services.contacts import phone_hash

_PHONE_AUTHOR = re.compile(r"^\+\d[\d \-()]{5,20}$")

# File extensions WhatsApp gives exported media (IMG-/VID-/PTT-/AUD-/DOC-… names) -> node media kinds.
KIND_BY_EXT = {
    ".jpg": "photo",
    ".jpeg": "photo",
    ".png": "photo",
    ".webp": "photo",
    ".mp4": "video",
    ".3gp": "video",
    ".mov": "video",
    ".opus": "voice",
    ".ogg": "voice",
    ".mp3": "audio",
    ".m4a": "audio",
    ".aac": "audio",
}


@dataclass
class Report:
    """What was imported and what was skipped, with the reason per export line."""

    chat_id: str
    imported: int = 0
    media: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    unmapped_authors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"imported {self.imported} messages ({self.media} with media) into chat {self.chat_id}"]
        out += [f"skipped line {s.line}: {s.reason}: {s.text[:60]}" for s in self.skipped]
        if self.unmapped_authors:
            out.append(f"authors kept by name only (no contact): {', '.join(self.unmapped_authors)}")
        return out


def _as_phone(author: str) -> str | None:
    """WhatsApp shows authors missing from the address book as their number, e.g. ``+7 999 123-45-67``."""
    if not _PHONE_AUTHOR.fullmatch(author):
        return None
    return "+" + re.sub(r"\D", "", author)


async def discover(client: MessengerClient, phones: dict[str, str]) -> dict[str, str]:
    """Map authors to registered users by their E.164 numbers through contact discovery (the numbers are
    hashed on this device); authors whose number is not registered are left out."""
    if not phones:
        return {}
    hashes = {phone_hash(p): a for a, p in phones.items()}
    found = await client.request("POST", "/v1/contacts", json={"hashes": sorted(hashes)})
    return {hashes[row["hash"]]: row["user_id"] for row in found if row["user_id"]}


def number_named(authors: list[str]) -> dict[str, str]:
    """The authors WhatsApp shows by number (missing from the exporter's address book) with the number."""
    return {a: p for a in authors if (p := _as_phone(a))}


async def _upload(
    client: MessengerClient, export: Export, report: Report, step: Callable[[], None]
) -> dict[str, dict[str, Any]]:
    """Encrypt and upload each attachment still referenced; refused files become skipped lines."""
    uploaded: dict[str, dict[str, Any]] = {}
    for message in export.messages:
        name = message.attachment
        if name is None or name in uploaded:
            continue
        kind = KIND_BY_EXT.get(PurePosixPath(name).suffix.lower(), "document")
        step()
        try:
            uploaded[name] = await attachments.upload(client, None, export.media[name], kind, filename=name)
        except AttachmentError as exc:  # not a readable file of its kind (read on this device)
            report.skipped.append(Skipped(message.line, f"media refused ({exc})", name))
        except ApiFailure as exc:
            if exc.status >= 500:
                raise
            report.skipped.append(Skipped(message.line, f"media refused ({exc.error})", name))
    return uploaded


Progress = Callable[[int, int], None]  # (steps done, steps in all): one per upload and per message


async def import_whatsapp(
    client: MessengerClient,
    path: Path | Export,
    *,
    names: dict[str, str],
    title: str | None = None,
    chat_id: str | None = None,
    progress: Progress | None = None,
) -> Report:
    """Import ``path`` (or an export already loaded) into a new group chat (or ``chat_id`` to resume)
    with the contacts ``names`` maps author names to (user ids) and the number-named authors found by
    contact discovery; other authors stay names inside the encrypted messages."""
    export = path if isinstance(path, Export) else load(path)
    total = len({m.attachment for m in export.messages if m.attachment}) + len(export.messages)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    digest = hashlib.sha256(repr([(m.line, m.author, m.text) for m in export.messages]).encode()).hexdigest()
    names = {**names, **await discover(client, number_named([a for a in export.authors if a not in names]))}
    members = sorted({u for u in names.values() if u != client.user_id})
    report = Report(chat_id="", skipped=list(export.skipped))
    report.unmapped_authors = [a for a in export.authors if a not in names]
    media = await _upload(client, export, report, step)
    if chat_id is None:
        chat_title = title or PurePosixPath(export.name).stem[:200] or "WhatsApp import"
        chat_id = await client.create_group(members, chat_title)
    report.chat_id = chat_id
    for info in media.values():
        for media_id in attachments.media_ids(info):
            await client.request("POST", f"/v1/media/{media_id}/shares", json={"chat_id": chat_id})
    for message in export.messages:
        attached = media.get(message.attachment or "")
        step()
        if message.attachment and attached is None and not message.text:
            continue  # refused media without a caption: already in the report
        body: dict[str, Any] = {
            "text": message.text,
            "imported": {
                "from": "whatsapp",
                "author": message.author,
                "author_user": names.get(message.author),
                "sent_at": message.sent_at.isoformat(),
            },
        }
        if attached is not None:
            body["media"] = attached
            report.media += 1
        # Another author's line is theirs, not the importer's: it outlives the importer's account.
        own = names.get(message.author) == client.user_id
        await client.send(
            chat_id, body, client_msg_id=f"{'' if own else IMPORTED}wa-{digest[:24]}-{message.line}"
        )
        report.imported += 1
    report.skipped.sort(key=lambda s: s.line)
    return report
