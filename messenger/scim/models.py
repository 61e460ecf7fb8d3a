"""Tables of the SCIM directories: organisations, their provisioned users and groups, group members.

Only what the messenger needs of a provisioned person is stored (docs/IDENTITY.md): userName, the
display name and name parts, the mobile phone (E.164), externalId and active. Every other attribute a
SCIM client sends (emails, addresses, photos, ...) is dropped on arrival.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base, now


class Organisation(Base):
    """A directory owner; its SCIM client authenticates with a bearer token stored as SHA-256."""

    __tablename__ = "scim_orgs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # o<hex>
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # school | company | ministry
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(64))  # operator's user id, or "cli"
    created_at: Mapped[float] = mapped_column(Float, default=now)


class ScimUser(Base):
    __tablename__ = "scim_users"
    __table_args__ = (
        UniqueConstraint("org_id", "user_name_key", name="uq_scim_users_org_name"),
        Index("ix_scim_users_phone", "phone"),
        Index("ix_scim_users_org_external", "org_id", "external_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # s<hex>
    org_id: Mapped[str] = mapped_column(ForeignKey("scim_orgs.id", ondelete="CASCADE"), index=True)
    user_name: Mapped[str] = mapped_column(String(200))
    user_name_key: Mapped[str] = mapped_column(String(200))  # casefolded: userName is not caseExact
    display_name: Mapped[str | None] = mapped_column(String(200))
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(16))  # E.164 of phoneNumbers[type=mobile]
    external_id: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool | None] = mapped_column(Boolean)  # None: not given, counts as active
    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now)
    version: Mapped[int] = mapped_column(Integer, default=1)  # meta.version / ETag W/"<version>"


class ScimGroup(Base):
    __tablename__ = "scim_groups"
    __table_args__ = (Index("ix_scim_groups_org_name", "org_id", "display_name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # g<hex>
    org_id: Mapped[str] = mapped_column(ForeignKey("scim_orgs.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str | None] = mapped_column(String(8))  # chat | channel; None: not given (a chat)
    chat_id: Mapped[str | None] = mapped_column(String(40))  # the group chat it is mirrored to
    channel_id: Mapped[str | None] = mapped_column(String(40))  # ... or the channel (kind channel)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now)
    version: Mapped[int] = mapped_column(Integer, default=1)


class ScimGroupMember(Base):
    __tablename__ = "scim_group_members"
    __table_args__ = (Index("ix_scim_group_members_user", "scim_user_id"),)

    group_id: Mapped[str] = mapped_column(ForeignKey("scim_groups.id", ondelete="CASCADE"), primary_key=True)
    scim_user_id: Mapped[str] = mapped_column(
        ForeignKey("scim_users.id", ondelete="CASCADE"), primary_key=True
    )


class ScimGroupOwner(Base):
    """The extension's ``owners`` of a group: of a channel group, the users who may post."""

    __tablename__ = "scim_group_owners"
    __table_args__ = (Index("ix_scim_group_owners_user", "scim_user_id"),)

    group_id: Mapped[str] = mapped_column(ForeignKey("scim_groups.id", ondelete="CASCADE"), primary_key=True)
    scim_user_id: Mapped[str] = mapped_column(
        ForeignKey("scim_users.id", ondelete="CASCADE"), primary_key=True
    )
