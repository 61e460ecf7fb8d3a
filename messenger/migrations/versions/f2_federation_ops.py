"""federation: chat changes forwarded by member states, waiting for the hosting node

Revision ID: f2_federation_ops
Revises: f1_federation
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f2_federation_ops"
down_revision: str | Sequence[str] | None = "f1_federation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fed_pending_ops",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("op", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fed_pending_ops")),
    )


def downgrade() -> None:
    op.drop_table("fed_pending_ops")
