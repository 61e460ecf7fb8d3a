"""scim: organisations, provisioned users and groups, group members

Revision ID: g1_scim
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "g1_scim"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("scim",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scim_orgs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_orgs")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_scim_orgs_token_hash")),
    )
    op.create_table(
        "scim_users",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.Column("user_name_key", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("given_name", sa.String(length=100), nullable=True),
        sa.Column("family_name", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["scim_orgs.id"], name=op.f("fk_scim_users_org_id_scim_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_users")),
        sa.UniqueConstraint("org_id", "user_name_key", name="uq_scim_users_org_name"),
    )
    op.create_index(op.f("ix_scim_users_org_id"), "scim_users", ["org_id"], unique=False)
    op.create_index("ix_scim_users_phone", "scim_users", ["phone"], unique=False)
    op.create_index("ix_scim_users_org_external", "scim_users", ["org_id", "external_id"], unique=False)
    op.create_table(
        "scim_groups",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("chat_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["scim_orgs.id"], name=op.f("fk_scim_groups_org_id_scim_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scim_groups")),
    )
    op.create_index(op.f("ix_scim_groups_org_id"), "scim_groups", ["org_id"], unique=False)
    op.create_index("ix_scim_groups_org_name", "scim_groups", ["org_id", "display_name"], unique=False)
    op.create_table(
        "scim_group_members",
        sa.Column("group_id", sa.String(length=40), nullable=False),
        sa.Column("scim_user_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["scim_groups.id"],
            name=op.f("fk_scim_group_members_group_id_scim_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scim_user_id"],
            ["scim_users.id"],
            name=op.f("fk_scim_group_members_scim_user_id_scim_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "scim_user_id", name=op.f("pk_scim_group_members")),
    )
    op.create_index("ix_scim_group_members_user", "scim_group_members", ["scim_user_id"], unique=False)


def downgrade() -> None:
    op.drop_table("scim_group_members")
    op.drop_table("scim_groups")
    op.drop_table("scim_users")
    op.drop_table("scim_orgs")
