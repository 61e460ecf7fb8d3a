"""Local search of a device's own decrypted history: end-to-end encrypted chats never reach server search.

Same matching rule as the node's full-text search (every word, case-insensitive, whole words), so a user
sees one behaviour across channel posts (server) and private/group chats (device).
"""

from __future__ import annotations

import re
from typing import Any

from messenger.client.client import MessengerClient


def words(text: str) -> set[str]:
    return {w.casefold() for w in re.findall(r"\w+", text)}


async def search_history(client: MessengerClient, chat_id: str, q: str) -> list[dict[str, Any]]:
    """History rows of ``chat_id`` (decrypted on this device) whose text contains every word of ``q``."""
    wanted = words(q)
    if not wanted:
        return []
    found, after = [], 0
    while True:
        rows = await client.history(chat_id, after=after)
        found += [r for r in rows if r["text"] is not None and wanted <= words(r["text"])]
        if len(rows) < 100:  # the node's default page size
            return found
        after = rows[-1]["seq"]
