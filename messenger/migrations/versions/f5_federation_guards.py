"""federation: what a receiving node checks a peer against (nonces, claim and refusal counters, call
ends and one record per leg, remote meetings' views and guests)

Revision ID: f5_federation_guards
Revises: f4_federation_meetings
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f5_federation_guards"
down_revision: str | Sequence[str] | None = "f4_federation_meetings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fed_counters",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", "window_start", name=op.f("pk_fed_counters")),
    )
    op.create_index("ix_fed_counters_expires_at", "fed_counters", ["expires_at"])
    with op.batch_alter_table("fed_call_hosts") as batch:
        batch.add_column(sa.Column("meeting_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("ended_at", sa.Float(), nullable=True))
    with op.batch_alter_table("fed_call_legs") as batch:
        batch.create_unique_constraint(
            op.f("uq_fed_call_legs_call_id"), ["call_id", "device_id", "joined_at"]
        )
    with op.batch_alter_table("fed_meeting_hosts") as batch:
        batch.add_column(sa.Column("view", sa.Text(), nullable=True))
    op.create_table(
        "fed_meeting_guests",
        sa.Column("meeting_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["fed_meeting_hosts.meeting_id"],
            name=op.f("fk_fed_meeting_guests_meeting_id_fed_meeting_hosts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("meeting_id", "user_id", name=op.f("pk_fed_meeting_guests")),
    )
    op.create_index(op.f("ix_fed_meeting_guests_user_id"), "fed_meeting_guests", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_fed_meeting_guests_user_id"), table_name="fed_meeting_guests")
    op.drop_table("fed_meeting_guests")
    with op.batch_alter_table("fed_meeting_hosts") as batch:
        batch.drop_column("view")
    with op.batch_alter_table("fed_call_legs") as batch:
        batch.drop_constraint(op.f("uq_fed_call_legs_call_id"), type_="unique")
    with op.batch_alter_table("fed_call_hosts") as batch:
        batch.drop_column("ended_at")
        batch.drop_column("meeting_id")
    op.drop_table("fed_counters")
