"""megolm: one ciphertext per message (envelopes go), signed keys, to-device txns, key backups

Revision ID: e1_megolm
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e1_megolm"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("megolm",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nothing is deployed: the per-device envelopes are dropped, not migrated (issue 15).
    op.drop_table("envelopes")
    op.add_column("messages", sa.Column("ciphertext", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("session_id", sa.String(length=64), nullable=True))
    op.add_column("devices", sa.Column("identity_signature", sa.String(length=128), nullable=True))
    op.add_column("prekeys", sa.Column("signature", sa.String(length=128), nullable=True))
    op.add_column("devices", sa.Column("fallback_key", sa.String(length=64), nullable=True))
    op.add_column("devices", sa.Column("fallback_signature", sa.String(length=128), nullable=True))
    op.create_table(
        "to_device_txns",
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("txn_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "txn_id", name=op.f("pk_to_device_txns")),
    )
    op.create_index(op.f("ix_to_device_txns_created_at"), "to_device_txns", ["created_at"], unique=False)
    op.create_table(
        "key_backups",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_key_backups_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "version", name=op.f("pk_key_backups")),
    )
    op.create_table(
        "backup_sessions",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id", "version"],
            ["key_backups.user_id", "key_backups.version"],
            name=op.f("fk_backup_sessions_user_id_key_backups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "version", "session_id", name=op.f("pk_backup_sessions")),
    )


def downgrade() -> None:
    op.drop_table("backup_sessions")
    op.drop_table("key_backups")
    op.drop_index(op.f("ix_to_device_txns_created_at"), table_name="to_device_txns")
    op.drop_table("to_device_txns")
    with op.batch_alter_table("prekeys") as batch_op:
        batch_op.drop_column("signature")
    with op.batch_alter_table("devices") as batch_op:
        batch_op.drop_column("fallback_signature")
        batch_op.drop_column("fallback_key")
        batch_op.drop_column("identity_signature")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("session_id")
        batch_op.drop_column("ciphertext")
    op.create_table(
        "envelopes",
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_envelopes_message_id_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("message_id", "device_id", name=op.f("pk_envelopes")),
    )
