"""contacts: phone hashes, imported contacts, discovery lookups

Revision ID: c6_contacts
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c6_contacts"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("contacts",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "phone_hashes",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_phone_hashes")),
        sa.UniqueConstraint("user_id", name=op.f("uq_phone_hashes_user_id")),
    )
    op.create_table(
        "contacts",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "hash", name=op.f("pk_contacts")),
    )
    op.create_table(
        "contact_lookups",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("looked_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "hash", name=op.f("pk_contact_lookups")),
    )
    op.create_index("ix_contact_lookups_user_time", "contact_lookups", ["user_id", "looked_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_contact_lookups_user_time", table_name="contact_lookups")
    op.drop_table("contact_lookups")
    op.drop_table("contacts")
    op.drop_table("phone_hashes")
