"""search: full-text indexes over channel posts, channel and chat titles, file names

SQLite: FTS5 external-content tables kept in sync by triggers (https://www.sqlite.org/fts5.html §4.4.3).
PostgreSQL: GIN expression indexes on ``to_tsvector('simple', ...)`` (full-text search chapter, §12.2.2).

Revision ID: c5_search
Revises: c4_channels
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c5_search"
down_revision: str | Sequence[str] | None = "c4_channels"
branch_labels: str | Sequence[str] | None = ("search",)
depends_on: str | Sequence[str] | None = "a1_media"

# table -> (indexed columns, fts table)
INDEXED = {
    "channel_posts": ("text", "channel_posts_fts"),
    "channels": ("title, description", "channels_fts"),
    "chats": ("title", "chats_fts"),
    "media_uploads": ("filename", "media_uploads_fts"),
}


def _sqlite_up(table: str, columns: str, fts: str) -> list[str]:
    cols = [c.strip() for c in columns.split(",")]
    new = ", ".join(f"new.{c}" for c in cols)
    old = ", ".join(f"old.{c}" for c in cols)
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({columns}, content='{table}', content_rowid='rowid')",
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, {columns}) VALUES (new.rowid, {new}); END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {columns}) VALUES ('delete', old.rowid, {old}); END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {columns} ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {columns}) VALUES ('delete', old.rowid, {old}); "
        f"INSERT INTO {fts}(rowid, {columns}) VALUES (new.rowid, {new}); END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


def _pg_document(columns: str) -> str:
    return " || ' ' || ".join(f"coalesce({c.strip()}, '')" for c in columns.split(","))


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, (columns, fts) in INDEXED.items():
        if postgres:
            op.execute(
                f"CREATE INDEX ix_{fts} ON {table} USING gin (to_tsvector('simple', {_pg_document(columns)}))"
            )
        else:
            for statement in _sqlite_up(table, columns, fts):
                op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for _table, (_columns, fts) in INDEXED.items():
        if postgres:
            op.execute(f"DROP INDEX ix_{fts}")
        else:
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER {fts}_{suffix}")
            op.execute(f"DROP TABLE {fts}")
