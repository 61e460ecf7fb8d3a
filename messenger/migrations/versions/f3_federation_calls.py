"""federation: calls hosted in another state (their hosts) and this node's users' legs in them

Revision ID: f3_federation_calls
Revises: f2_federation_ops
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f3_federation_calls"
down_revision: str | Sequence[str] | None = "f2_federation_ops"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fed_call_hosts",
        sa.Column("call_id", sa.String(length=40), nullable=False),
        sa.Column("host_state", sa.String(length=8), nullable=False),
        sa.Column("chat_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_fed_call_hosts")),
    )
    op.create_table(
        "fed_call_legs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=40), nullable=False),
        sa.Column("host_state", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("media", sa.String(length=8), nullable=False),
        sa.Column("joined_at", sa.Float(), nullable=False),
        sa.Column("left_at", sa.Float(), nullable=False),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fed_call_legs")),
    )
    op.create_index(op.f("ix_fed_call_legs_call_id"), "fed_call_legs", ["call_id"])
    op.create_index(op.f("ix_fed_call_legs_user_id"), "fed_call_legs", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_fed_call_legs_user_id"), table_name="fed_call_legs")
    op.drop_index(op.f("ix_fed_call_legs_call_id"), table_name="fed_call_legs")
    op.drop_table("fed_call_legs")
    op.drop_table("fed_call_hosts")
