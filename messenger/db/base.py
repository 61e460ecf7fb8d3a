"""The declarative base every model (of every feature module) derives from."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Timestamps are stored as UNIX seconds (float): cheap to compare, same on SQLite and PostgreSQL. Models
# and services take ``now`` from here; it is the node's one clock (``messenger.clock``, re-exported).
from messenger.clock import now as now

# Stable constraint names so that Alembic revisions can drop/alter them on SQLite and PostgreSQL alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """All tables of the node share this metadata (Alembic ``target_metadata``)."""

    metadata = MetaData(naming_convention=NAMING)
