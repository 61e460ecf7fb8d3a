"""account limits: attempt/rate counters (rate_limits); room for encrypted TOTP secrets

Revision ID: s1_account_limits
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "s1_account_limits"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("account_limits",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("until", sa.Float(), nullable=False),
        sa.Column("delay", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limits")),
    )
    op.create_index(op.f("ix_rate_limits_until"), "rate_limits", ["until"], unique=False)
    # Sealed secrets are longer than the base32 ones. SQLite does not enforce VARCHAR lengths, and a
    # batch table rebuild of ``users`` would cascade into every table that references it: PostgreSQL only.
    if op.get_bind().dialect.name == "postgresql":
        for column in ("totp_secret", "totp_pending"):
            op.alter_column("users", column, type_=sa.String(length=128), existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in ("totp_secret", "totp_pending"):
            op.alter_column("users", column, type_=sa.String(length=64), existing_nullable=True)
    op.drop_index(op.f("ix_rate_limits_until"), table_name="rate_limits")
    op.drop_table("rate_limits")
