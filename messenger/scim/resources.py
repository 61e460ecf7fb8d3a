"""What the node serves over SCIM, as scim2-models objects: the provider (schemas, resource types, the
service provider config) and the mapping between stored rows and ``User`` / ``Group`` resources.

The published schemas are the RFC 7643 core ``User`` and ``Group`` schemas cut down to the attributes
the node keeps (``KEPT_USER``), so a client (and scim2-tester) knows that the rest is not stored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ETag,
    Filter,
    Group,
    GroupMember,
    InvalidValueException,
    Meta,
    Name,
    Patch,
    PhoneNumber,
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

PROVIDER = ScimProvider(
    models=[User, Group],
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
    return {
        "display_name": _limit(resource.display_name, 200, "displayName"),
        "external_id": _limit(resource.external_id, 200, "externalId"),
    }


def member_ids(resource: Group) -> list[str]:
    """The ids of ``members``, in order and without repeats."""
    return list(dict.fromkeys(str(m.value) for m in resource.members or [] if m.value))


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


def group_resource(row: ScimGroup, members: list[ScimUser], base: str) -> Group:
    return Group(
        id=row.id,
        external_id=row.external_id,
        display_name=row.display_name,
        members=[GroupMember(value=m.id, type="User", ref=f"{base}/Users/{m.id}") for m in members] or None,
        meta=_meta("Group", row, base),
    )
