"""federation: outbox, destinations, received transactions, hosts of replicated chats

Revision ID: f1_federation
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f1_federation"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("federation",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fed_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("destination", sa.String(length=8), nullable=False),
        sa.Column("txn_id", sa.String(length=40), nullable=True),
        sa.Column("pdu", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fed_outbox")),
    )
    op.create_index("ix_fed_outbox_destination_id", "fed_outbox", ["destination", "id"], unique=False)
    op.create_table(
        "fed_destinations",
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retry_at", sa.Float(), nullable=False),
        sa.Column("lease_owner", sa.String(length=40), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("state", name=op.f("pk_fed_destinations")),
    )
    op.create_table(
        "fed_txns",
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("txn_id", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("pdus", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("origin", "txn_id", name=op.f("pk_fed_txns")),
    )
    op.create_table(
        "fed_chat_hosts",
        sa.Column("chat_id", sa.String(length=40), nullable=False),
        sa.Column("host_state", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name=op.f("fk_fed_chat_hosts_chat_id_chats"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_fed_chat_hosts")),
    )


def downgrade() -> None:
    op.drop_table("fed_chat_hosts")
    op.drop_table("fed_txns")
    op.drop_table("fed_destinations")
    op.drop_index("ix_fed_outbox_destination_id", table_name="fed_outbox")
    op.drop_table("fed_outbox")
