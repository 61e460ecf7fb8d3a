"""Media objects (content-addressed, sealed at rest), their uploaders and the chats they were shared in."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base, now


class MediaObject(Base):
    __tablename__ = "media_objects"

    # SHA-256 hex of the plaintext (node-sealed) or random (end-to-end encrypted: not a content address)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # photo | video | audio | voice | video_note | document
    content_type: Mapped[str] = mapped_column(String(128))  # sniffed; application/octet-stream if opaque
    size: Mapped[int] = mapped_column(BigInteger)  # bytes as uploaded
    storage_key: Mapped[str] = mapped_column(String(200))  # where the bytes live in the backend
    # Data key under the node key (RFC 3394) and which node key wrapped it; both None for end-to-end
    # encrypted objects, whose key only the message inside the chat carries.
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary(64))
    key_id: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float, default=now)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    waveform: Mapped[str | None] = mapped_column(Text)  # JSON list of 0..255 amplitudes (voice notes)
    preview_id: Mapped[str | None] = mapped_column(String(64))  # a photo object (video notes)
    thumb_size: Mapped[int | None] = mapped_column(Integer)  # plaintext bytes of the JPEG thumbnail
    thumb_width: Mapped[int | None] = mapped_column(Integer)
    thumb_height: Mapped[int | None] = mapped_column(Integer)

    @property
    def encrypted(self) -> bool:
        """End-to-end encrypted by the uploading client: the node holds no key for it."""
        return self.wrapped_key is None


class MediaUpload(Base):
    __tablename__ = "media_uploads"
    __table_args__ = (Index("ix_media_uploads_user", "user_id"),)

    media_id: Mapped[str] = mapped_column(
        ForeignKey("media_objects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    filename: Mapped[str | None] = mapped_column(String(255))  # server-readable metadata
    uploaded_at: Mapped[float] = mapped_column(Float, default=now)


class MediaShare(Base):
    __tablename__ = "media_shares"
    __table_args__ = (Index("ix_media_shares_chat", "chat_id", "shared_at"),)

    media_id: Mapped[str] = mapped_column(
        ForeignKey("media_objects.id", ondelete="CASCADE"), primary_key=True
    )
    chat_id: Mapped[str] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    shared_by: Mapped[str] = mapped_column(String(64))
    shared_at: Mapped[float] = mapped_column(Float, default=now)
