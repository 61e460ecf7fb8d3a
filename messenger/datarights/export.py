"""A user's data export: one zip with ``account.json`` and the bytes of every media object they uploaded
(plaintext of node-sealed media, the client's ciphertext of end-to-end encrypted media).

``account.json`` merges the sections of every registered provider (``messenger.datarights.registry``),
read in one transaction: the account, devices, chats, messages sent (their ciphertext opens only with
the chat's room keys), key backups, media, calls, meetings, tariff pool, channels, locations,
contacts, operator role and their own audit entries (docs/API.md, "Data rights").
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from messenger.datarights.media import zip_path
from messenger.datarights.registry import Context, Provider, providers
from messenger.db.base import now
from messenger.db.models.media import MediaObject
from messenger.media.service import Media, read_plain

FORMAT = "msgfleet-export/1"  # sections are only ever added, so readers of /1 keep working


async def collect(ctx: Context, items: list[Provider] | None = None) -> dict[str, Any]:
    """Every provider's sections as JSON-ready data; media objects to include are left in ``ctx.files``."""
    data: dict[str, Any] = {"format": FORMAT, "exported_at": now()}
    for provider in providers() if items is None else items:
        sections = await provider.export(ctx)
        clash = sorted(set(sections) & set(data))
        if clash:
            raise RuntimeError(f"data-rights provider {provider.name} repeats sections {clash}")
        data.update(sections)
    return data


async def write_zip(path: Path, data: dict[str, Any], objects: list[MediaObject], media: Media) -> int:
    """Write the export zip; media bytes go chunk by chunk into it, node-sealed ones decrypted (stored, not
    recompressed)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("account.json", json.dumps(data, indent=1, ensure_ascii=False), zipfile.ZIP_DEFLATED)
        for obj in objects:
            with archive.open(zip_path(obj), "w", force_zip64=obj.size > 2**31) as out:
                async for piece in read_plain(media, obj, 0, obj.size - 1):
                    out.write(piece)
    return path.stat().st_size
