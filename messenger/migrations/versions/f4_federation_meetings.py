"""federation: meetings organized in another state that invite this node's users

Revision ID: f4_federation_meetings
Revises: f3_federation_calls
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f4_federation_meetings"
down_revision: str | Sequence[str] | None = "f3_federation_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fed_meeting_hosts",
        sa.Column("meeting_id", sa.String(length=40), nullable=False),
        sa.Column("host_state", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("meeting_id", name=op.f("pk_fed_meeting_hosts")),
    )


def downgrade() -> None:
    op.drop_table("fed_meeting_hosts")
