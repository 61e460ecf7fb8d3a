"""SCIM groups as channels: the group's kind, its channel, and the extension's owners.

Revision ID: g2_scim_channels
Revises: g1_scim
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "g2_scim_channels"
down_revision: str | Sequence[str] | None = "g1_scim"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("scim_groups", sa.Column("kind", sa.String(length=8), nullable=True))
    op.add_column("scim_groups", sa.Column("channel_id", sa.String(length=40), nullable=True))
    op.create_table(
        "scim_group_owners",
        sa.Column("group_id", sa.String(length=40), nullable=False),
        sa.Column("scim_user_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["scim_groups.id"],
            name=op.f("fk_scim_group_owners_group_id_scim_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scim_user_id"],
            ["scim_users.id"],
            name=op.f("fk_scim_group_owners_scim_user_id_scim_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "scim_user_id", name=op.f("pk_scim_group_owners")),
    )
    op.create_index("ix_scim_group_owners_user", "scim_group_owners", ["scim_user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("scim_group_owners")
    op.drop_column("scim_groups", "channel_id")
    op.drop_column("scim_groups", "kind")
