"""The registry covers every person column of the schema; a column nobody covers is reported."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, MetaData, String, Table

import messenger.db.models  # noqa: F401  (every table in Base.metadata)
from messenger.datarights.registry import ALLOWED, covered, holds_person, missing_coverage, providers
from messenger.db.base import Base


def test_every_person_column_is_covered_or_allowed() -> None:
    assert missing_coverage(Base.metadata) == [], (
        "give these columns to a data-rights provider (messenger/datarights/registry.py PROVIDERS) "
        "or list them with a reason in ALLOWED"
    )


def test_covers_and_allow_list_name_real_columns() -> None:
    real = {f"{t.name}.{c.name}" for t in Base.metadata.sorted_tables for c in t.columns}
    assert sorted(set(covered(providers())) - real) == []
    assert sorted(set(ALLOWED) - real) == []


def test_a_forgotten_feature_table_fails_the_check() -> None:
    meta = MetaData()
    Table("users", meta, Column("id", String(64), primary_key=True), Column("phone", String(16)))
    Table(
        "stickers",
        meta,
        Column("id", String(40), primary_key=True),
        Column("owner", ForeignKey("users.id")),  # caught by its foreign key
        Column("sent_by", String(64)),  # caught by its name
        Column("buyer_user_id", String(64)),
        Column("title", String(64)),  # not a person column
    )
    assert missing_coverage(meta) == ["stickers.buyer_user_id", "stickers.owner", "stickers.sent_by"]
    title = meta.tables["stickers"].c.title
    assert not holds_person(title)


def test_provider_names_and_export_sections_are_unique() -> None:
    names = [p.name for p in providers()]
    assert len(names) == len(set(names))
