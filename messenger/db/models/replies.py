"""Reply threads: an index on the core ``messages`` table (migration ``c3_replies``), declared here so that
Alembic autogenerate sees it as part of the model."""

from __future__ import annotations

from sqlalchemy import Index

from messenger.db.models.chats import Message

REPLIES_INDEX = Index("ix_messages_chat_reply_to", Message.chat_id, Message.reply_to)
