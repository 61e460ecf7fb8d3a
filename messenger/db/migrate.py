"""Run the Alembic migrations in ``messenger/migrations`` (``msgfleet serve`` calls this before starting).

History: every feature adds its own revision file under ``messenger/migrations/versions``. Keep one
linear chain (set ``down_revision`` to the current head); ``upgrade`` goes to ``heads`` so that
independently added branches also apply until someone merges them with ``alembic merge heads``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at the node's migrations and ``database_url`` (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str) -> None:
    """Apply every migration (``alembic upgrade heads``). Call from sync code, not inside an event loop."""
    command.upgrade(alembic_config(database_url), "heads")
