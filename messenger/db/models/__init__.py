"""All models, imported so that ``Base.metadata`` is complete (Alembic autogenerate, tests).

A feature adds ``messenger/db/models/<feature>.py`` and one import line here.
"""

from messenger.db.models.accounts import Device, LoginCode, RateLimit, User
from messenger.db.models.audit import AdminRole, AuditEntry
from messenger.db.models.billing import Subscription, SubscriptionMember
from messenger.db.models.calls import Call, CallLeg, CallParticipant, CallUsage
from messenger.db.models.channels import Channel, ChannelMember, ChannelPost, ChannelPostEarly
from messenger.db.models.chats import Chat, Member, Message, Pin
from messenger.db.models.contacts import Contact, ContactLookup, PhoneHash
from messenger.db.models.events import DeviceEvent
from messenger.db.models.identity import DeviceLink, IdentityLink, OidcFlow
from messenger.db.models.keys import BackupSession, KeyBackup, Prekey, ToDeviceTxn
from messenger.db.models.locations import Location
from messenger.db.models.media import MediaObject, MediaShare, MediaUpload
from messenger.db.models.meetings import Meeting, MeetingInvitee
from messenger.db.models.replies import REPLIES_INDEX
from messenger.federation.models import ChatHost, Destination, OutboxItem, ReceivedTxn
from messenger.scim.models import Organisation, ScimGroup, ScimGroupMember, ScimUser

__all__ = [
    "REPLIES_INDEX",
    "AdminRole",
    "AuditEntry",
    "BackupSession",
    "Call",
    "CallLeg",
    "CallParticipant",
    "CallUsage",
    "Channel",
    "ChannelMember",
    "ChannelPost",
    "ChannelPostEarly",
    "Chat",
    "ChatHost",
    "Contact",
    "ContactLookup",
    "Destination",
    "Device",
    "DeviceEvent",
    "DeviceLink",
    "IdentityLink",
    "KeyBackup",
    "Location",
    "LoginCode",
    "MediaObject",
    "MediaShare",
    "MediaUpload",
    "Meeting",
    "MeetingInvitee",
    "Member",
    "Message",
    "OidcFlow",
    "Organisation",
    "OutboxItem",
    "PhoneHash",
    "Pin",
    "Prekey",
    "RateLimit",
    "ReceivedTxn",
    "ScimGroup",
    "ScimGroupMember",
    "ScimUser",
    "Subscription",
    "SubscriptionMember",
    "ToDeviceTxn",
    "User",
]
