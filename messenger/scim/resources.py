"""What the node serves over SCIM, as scim2-models objects: the provider (schemas, resource types, the
service provider config) and the mapping between stored rows and ``User`` / ``Group`` resources.

The published schemas are the RFC 7643 core ``User`` and ``Group`` schemas cut down to the attributes
the node keeps (``KEPT_USER``), so a client (and scim2-tester) knows that the rest is not stored, and
the node's Group extension (``GroupExtension``: whether the group is a chat or a channel, and who may
post in the channel), declared with scim2-models' extension mechanism.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import phonenumbers
from pydantic import Field
from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    ETag,
    Extension,
    Filter,
    Group,
    GroupMember,
    InvalidValueException,
    Meta,
    Mutability,
    Name,
    Patch,
    PhoneNumber,
    Reference,
    ResourceType,
    Schema,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    User,
)

from messenger.scim.models import ScimGroup, ScimUser

MAX_RESULTS = 200  # a page's largest size (filter.maxResults); count above it is cut to it
KEPT_USER = frozenset({"userName", "name", "displayName", "phoneNumbers", "active"})
KEPT_NAME = frozenset({"givenName", "familyName"})
DOCS = "docs/IDENTITY.md#scim--organisations"


class GroupKind(StrEnum):
    chat = "chat"
    channel = "channel"


class GroupOwner(ComplexAttribute):
    value: Annotated[str | None, CaseExact.true] = None
    """The id of a User of the organisation."""

    ref: Reference[User] | None = Field(None, serialization_alias="$ref", validation_alias="$ref")


class GroupExtension(Extension):
    """A group chat (kind chat, the default) or a channel whose owners post and members subscribe."""

    # Served in /Schemas (the docstring above is its description). ``kind`` is immutable: given at
    # creation, or once later by a group created without it (RFC 7643 §7); docs/IDENTITY.md.

    __schema__ = URN("urn:msgfleet:params:scim:schemas:extension:2.0:Group")

    kind: Annotated[GroupKind | None, Mutability.immutable] = None
    owners: list[GroupOwner] | None = None


GROUP: type[Group] = Group[GroupExtension]  # type: ignore[misc]  # mypy: not generic

PROVIDER = ScimProvider(
    models=[User, Group, GroupExtension],
    resource_types=[ResourceType.from_resource(User), ResourceType.from_resource(GROUP)],
    config=ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="Organisation bearer token",
                description="The token a node operator issued to the organisation (Authorization: Bearer)",
                primary=True,
            )
        ],
    ),
)


def _published(schema: Schema) -> Schema:
    """``schema`` without the attributes the node drops (Users) and with members naming Users only."""
    out = schema.model_copy(deep=True)
    attributes = out.attributes or []
    if out.id == User.__schema__:
        attributes = [a for a in attributes if a.name in KEPT_USER]
        for attribute in attributes:
            if attribute.name == "name":
                attribute.sub_attributes = [s for s in attribute.sub_attributes or [] if s.name in KEPT_NAME]
            if attribute.name == "phoneNumbers":  # only the mobile number is kept (it links the account)
                attribute.sub_attributes = [
                    s for s in attribute.sub_attributes or [] if s.name in {"value", "type"}
                ]
    for attribute in attributes:
        if attribute.name == "members":
            for sub in attribute.sub_attributes or []:
                if sub.name == "$ref":
                    sub.reference_types = ["User"]
                if sub.name == "type":
                    sub.canonical_values = ["User"]
            attribute.sub_attributes = [s for s in attribute.sub_attributes or [] if s.name != "display"]
    out.attributes = attributes
    return out


SCHEMAS: list[Schema] = [_published(s) for s in PROVIDER.schemas]

E164 = re.compile(r"^\+[1-9]\d{6,14}$")  # as messenger.services.accounts.E164 (ITU-T E.164)


def _limit(value: str | None, size: int, what: str) -> str | None:
    if value is not None and len(value) > size:
        raise InvalidValueException(detail=f"{what} is longer than {size} characters")
    return value


def mobile_phone(numbers: list[PhoneNumber] | None, region: str) -> str | None:
    """The E.164 form of the ``mobile`` number (the primary one if several): the account link.

    libphonenumber reads the value: RFC 3966 ``tel:+7-999-123-45-67`` (RFC 7643 §4.1.2's advice),
    ``+7 999 123 45 67``, or a national number of ``region`` (the node's country: ``8 999 123-45-67``
    in RU) all become ``+79991234567``. Numbers of other types are dropped."""
    mobiles = [n for n in numbers or [] if n.type == PhoneNumber.Type.mobile and n.value]
    if not mobiles:
        return None
    given = str(next((n for n in mobiles if n.primary), mobiles[0]).value)
    try:
        parsed = phonenumbers.parse(given.removeprefix("tel:")[:40], region)
        value = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        value = ""
    if not E164.fullmatch(value):
        raise InvalidValueException(
            detail=f'phoneNumbers[type eq "mobile"].value {given[:40]!r} is not a phone number '
            "like +79991234567"
        )
    return value


def user_fields(resource: User, region: str) -> dict[str, Any]:
    """The stored columns of a validated ``User`` (everything else it carries is dropped)."""
    name = resource.name
    return {
        "user_name": _limit(resource.user_name, 200, "userName"),
        "user_name_key": (resource.user_name or "").casefold(),
        "display_name": _limit(resource.display_name, 200, "displayName"),
        "given_name": _limit(name.given_name if name else None, 100, "name.givenName"),
        "family_name": _limit(name.family_name if name else None, 100, "name.familyName"),
        "phone": mobile_phone(resource.phone_numbers, region),
        "external_id": _limit(resource.external_id, 200, "externalId"),
        "active": resource.active,  # unset (None) counts as active
    }


def group_fields(resource: Group) -> dict[str, Any]:
    extension = resource[GroupExtension]
    kind = extension.kind if extension else None
    return {
        "display_name": _limit(resource.display_name, 200, "displayName"),
        "external_id": _limit(resource.external_id, 200, "externalId"),
        "kind": kind.value if kind else None,
    }


def member_ids(resource: Group) -> list[str]:
    """The ids of ``members``, in order and without repeats."""
    return list(dict.fromkeys(str(m.value) for m in resource.members or [] if m.value))


def owner_ids(resource: Group) -> list[str]:
    """The ids of the extension's ``owners``, in order and without repeats."""
    extension = resource[GroupExtension]
    owners = (extension.owners if extension else None) or []
    return list(dict.fromkeys(str(o.value) for o in owners if o.value))


def etag(version: int) -> str:
    return f'W/"{version}"'


def _time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _meta(kind: str, row: ScimUser | ScimGroup, base: str) -> Meta:
    return Meta(
        resource_type=kind,
        created=_time(row.created_at),
        last_modified=_time(row.updated_at),
        version=etag(row.version),
        location=f"{base}/{kind}s/{row.id}",
    )


def user_resource(row: ScimUser, base: str) -> User:
    name = Name(given_name=row.given_name, family_name=row.family_name)
    phones = [PhoneNumber(value=row.phone, type=PhoneNumber.Type.mobile)] if row.phone else None
    return User(
        id=row.id,
        external_id=row.external_id,
        user_name=row.user_name,
        display_name=row.display_name,
        name=name if row.given_name or row.family_name else None,
        phone_numbers=phones,
        active=row.active,
        meta=_meta("User", row, base),
    )


def group_resource(row: ScimGroup, members: list[ScimUser], owners: list[ScimUser], base: str) -> Group:
    resource = GROUP(
        id=row.id,
        external_id=row.external_id,
        display_name=row.display_name,
        members=[GroupMember(value=m.id, type="User", ref=f"{base}/Users/{m.id}") for m in members] or None,
        meta=_meta("Group", row, base),
    )
    if row.kind or owners:
        resource[GroupExtension] = GroupExtension(
            kind=GroupKind(row.kind) if row.kind else None,
            owners=[GroupOwner(value=o.id, ref=f"{base}/Users/{o.id}") for o in owners] or None,
        )
    return resource
