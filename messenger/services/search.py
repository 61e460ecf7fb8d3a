"""Full-text search over what the server may read: channel posts, channel and chat titles, file names.

SQLite uses the FTS5 tables of migration ``c5_search`` (``unicode61`` tokenizer, BM25 ranking);
PostgreSQL uses ``to_tsvector('simple', ...)`` with its GIN expression indexes and ``ts_rank``. Both
match every word of the query (AND), case-insensitively and without stemming, so results agree.
Private and group messages are end-to-end encrypted and never searched here: the reference client
searches its own decrypted history (``messenger.client.search``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.errors import BadRequest

KINDS = ("posts", "channels", "chats", "files")
MAX_TERMS = 10


@dataclass(frozen=True)
class Query:
    terms: tuple[str, ...]

    @property
    def fts5(self) -> str:
        """Each term as an FTS5 string (quoted, so no user input is read as query syntax)."""
        return " ".join('"' + t.replace('"', '""') + '"' for t in self.terms)

    @property
    def plain(self) -> str:
        return " ".join(self.terms)


def parse(q: str) -> Query:
    terms = tuple(re.findall(r"\w+", q))[:MAX_TERMS]
    if not terms:
        raise BadRequest("the query has no words to search for", code="invalid_query")
    return Query(terms)


# kind -> (SQLite statement, PostgreSQL statement); :q, :uid, :limit are bound.
_SQL: dict[str, tuple[str, str]] = {
    "posts": (
        """SELECT p.channel_id, p.seq, p.id, snippet(channel_posts_fts, 0, '<b>', '</b>', '…', 16) AS snippet,
                  -bm25(channel_posts_fts) AS score
           FROM channel_posts_fts JOIN channel_posts p ON p.rowid = channel_posts_fts.rowid
           JOIN channel_members m ON m.channel_id = p.channel_id AND m.user_id = :uid
           WHERE channel_posts_fts MATCH :q ORDER BY bm25(channel_posts_fts) LIMIT :limit""",
        """SELECT p.channel_id, p.seq, p.id,
                  ts_headline('simple', p.text, plainto_tsquery('simple', :q),
                              'StartSel=<b>, StopSel=</b>, MaxWords=16, MinWords=4') AS snippet,
                  ts_rank(to_tsvector('simple', coalesce(p.text, '')), plainto_tsquery('simple', :q)) AS score
           FROM channel_posts p JOIN channel_members m ON m.channel_id = p.channel_id AND m.user_id = :uid
           WHERE to_tsvector('simple', coalesce(p.text, '')) @@ plainto_tsquery('simple', :q)
           ORDER BY score DESC LIMIT :limit""",
    ),
    "channels": (
        """SELECT c.id, c.title, c.subscribers, -bm25(channels_fts) AS score
           FROM channels_fts JOIN channels c ON c.rowid = channels_fts.rowid
           WHERE channels_fts MATCH :q ORDER BY bm25(channels_fts) LIMIT :limit""",
        """SELECT c.id, c.title, c.subscribers,
                  ts_rank(to_tsvector('simple', coalesce(c.title, '') || ' ' || coalesce(c.description, '')),
                          plainto_tsquery('simple', :q)) AS score
           FROM channels c
           WHERE to_tsvector('simple', coalesce(c.title, '') || ' ' || coalesce(c.description, ''))
                 @@ plainto_tsquery('simple', :q)
           ORDER BY score DESC LIMIT :limit""",
    ),
    "chats": (
        """SELECT c.id, c.kind, c.title, -bm25(chats_fts) AS score
           FROM chats_fts JOIN chats c ON c.rowid = chats_fts.rowid
           JOIN members m ON m.chat_id = c.id AND m.user_id = :uid
           WHERE chats_fts MATCH :q ORDER BY bm25(chats_fts) LIMIT :limit""",
        """SELECT c.id, c.kind, c.title,
                  ts_rank(to_tsvector('simple', coalesce(c.title, '')),
                          plainto_tsquery('simple', :q)) AS score
           FROM chats c JOIN members m ON m.chat_id = c.id AND m.user_id = :uid
           WHERE to_tsvector('simple', coalesce(c.title, '')) @@ plainto_tsquery('simple', :q)
           ORDER BY score DESC LIMIT :limit""",
    ),
    # A file is found by its uploader, and by members of the chats it was shared in.
    "files": (
        """SELECT DISTINCT u.media_id, u.filename, -bm25(media_uploads_fts) AS score
           FROM media_uploads_fts JOIN media_uploads u ON u.rowid = media_uploads_fts.rowid
           WHERE media_uploads_fts MATCH :q AND (u.user_id = :uid OR EXISTS (
               SELECT 1 FROM media_shares s JOIN members m ON m.chat_id = s.chat_id
               WHERE s.media_id = u.media_id AND m.user_id = :uid))
           ORDER BY score DESC LIMIT :limit""",
        """SELECT DISTINCT u.media_id, u.filename,
                  ts_rank(to_tsvector('simple', coalesce(u.filename, '')),
                          plainto_tsquery('simple', :q)) AS score
           FROM media_uploads u
           WHERE to_tsvector('simple', coalesce(u.filename, '')) @@ plainto_tsquery('simple', :q)
             AND (u.user_id = :uid OR EXISTS (
               SELECT 1 FROM media_shares s JOIN members m ON m.chat_id = s.chat_id
               WHERE s.media_id = u.media_id AND m.user_id = :uid))
           ORDER BY score DESC LIMIT :limit""",
    ),
}


async def search(
    session: AsyncSession, *, user_id: str, q: str, kinds: tuple[str, ...], limit: int
) -> dict[str, list[dict[str, Any]]]:
    """Up to ``limit`` best matches of each kind that ``user_id`` may see."""
    query = parse(q)
    postgres = session.get_bind().dialect.name == "postgresql"
    params = {"q": query.plain if postgres else query.fts5, "uid": user_id, "limit": limit}
    out: dict[str, list[dict[str, Any]]] = {}
    for kind in kinds:
        rows = await session.execute(text(_SQL[kind][1 if postgres else 0]), params)
        out[kind] = [dict(row._mapping) for row in rows]
    return out
