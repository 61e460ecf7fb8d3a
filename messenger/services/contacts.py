"""Contact import and discovery with client-side hashed numbers, rate-limited against enumeration.

The client sends ``sha256(E.164 number)`` in hex, never the number. A hash of a phone number can still be
reversed by trying every number of a country (about 10^10 candidates), so the hash alone is not the
protection: the rate limit is. Each user may ask about at most ``DISCOVERY_PER_WINDOW`` *distinct*
hashes per ``WINDOW_SECONDS``; asking again about a hash already asked about is free, so a phone can
re-sync its address book, but walking the number space costs one account-day per few thousand numbers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.datarights.registry import Context, Provider
from messenger.db.base import now
from messenger.db.models import User
from messenger.db.models.contacts import Contact, ContactLookup, PhoneHash
from messenger.errors import BadRequest, RateLimited
from messenger.scim import service as scim

HASH = re.compile(r"^[0-9a-f]{64}$")
MAX_PER_REQUEST = 1000
# Design choices, not measured facts: an address book has hundreds of entries, so 2,000 new numbers a
# day never bites a real user, while enumeration of even one area code (10^7 numbers) would take 5,000
# account-days.
DISCOVERY_PER_WINDOW = 2000
WINDOW_SECONDS = 86_400


def phone_hash(phone: str) -> str:
    """What clients send: SHA-256 hex of the E.164 string."""
    return hashlib.sha256(phone.encode()).hexdigest()


def check_hashes(hashes: Sequence[str]) -> list[str]:
    if len(hashes) > MAX_PER_REQUEST:
        raise BadRequest(f"at most {MAX_PER_REQUEST} hashes per request", code="too_many_hashes")
    for i, value in enumerate(hashes):
        if not HASH.fullmatch(value):
            raise BadRequest(
                f"hashes[{i}] is not 64 lowercase hex digits (SHA-256 of E.164)", code="invalid_hash"
            )
    return list(dict.fromkeys(hashes))


def _dialect(session: AsyncSession) -> Any:
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite


def _insert_ignore(session: AsyncSession, model: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING: a concurrent request of the same user may insert the same row."""
    return _dialect(session).insert(model).on_conflict_do_nothing()


async def _index_new_users(session: AsyncSession) -> None:
    """Hash the phones of users registered since the last call (cheap anti-join on an indexed column)."""
    rows = (
        await session.execute(
            select(User.id, User.phone)
            .outerjoin(PhoneHash, PhoneHash.user_id == User.id)
            .where(PhoneHash.hash.is_(None))
        )
    ).all()
    if not rows:
        return
    # Upsert: concurrent workers may index the same user; a number re-registered after an account
    # deletion moves to the new user id.
    stmt = _dialect(session).insert(PhoneHash)
    stmt = stmt.on_conflict_do_update(
        index_elements=[PhoneHash.hash], set_={"user_id": stmt.excluded.user_id}
    )
    await session.execute(stmt, [{"hash": phone_hash(p), "user_id": u} for u, p in rows])


async def _charge(session: AsyncSession, *, user_id: str, hashes: list[str]) -> None:
    """Record first lookups; 429 (nothing recorded) if they would exceed the window's allowance."""
    ts = now()
    known = set(
        await session.scalars(
            select(ContactLookup.hash).where(ContactLookup.user_id == user_id, ContactLookup.hash.in_(hashes))
        )
    )
    new = [h for h in hashes if h not in known]
    if not new:
        return
    since = ts - WINDOW_SECONDS
    used, oldest = (
        await session.execute(
            select(func.count(), func.min(ContactLookup.looked_at)).where(
                ContactLookup.user_id == user_id, ContactLookup.looked_at > since
            )
        )
    ).one()
    if used + len(new) > DISCOVERY_PER_WINDOW:
        retry = int((oldest or ts) + WINDOW_SECONDS - ts) + 1
        raise RateLimited(
            f"{len(new)} new numbers would exceed {DISCOVERY_PER_WINDOW} per {WINDOW_SECONDS // 3600} h "
            f"({used} used); retry in {retry} s",
            retry_after=retry,
        )
    rows = [{"user_id": user_id, "hash": h, "looked_at": ts} for h in new]
    await session.execute(_insert_ignore(session, ContactLookup), rows)


async def registered(session: AsyncSession, hashes: Sequence[str]) -> dict[str, str]:
    if not hashes:
        return {}
    rows = await session.execute(
        select(PhoneHash.hash, PhoneHash.user_id).where(PhoneHash.hash.in_(list(hashes)))
    )
    return {h: u for h, u in rows.all()}


async def import_contacts(session: AsyncSession, *, user_id: str, hashes: Sequence[str]) -> dict[str, str]:
    """Store the hashes as the user's contacts and return ``{hash: user_id}`` of those registered."""
    wanted = check_hashes(hashes)
    await _charge(session, user_id=user_id, hashes=wanted)
    await _index_new_users(session)
    have = set(
        await session.scalars(
            select(Contact.hash).where(Contact.user_id == user_id, Contact.hash.in_(wanted))
        )
    )
    fresh = [h for h in wanted if h not in have]
    if fresh:
        rows = [{"user_id": user_id, "hash": h, "added_at": now()} for h in fresh]
        await session.execute(_insert_ignore(session, Contact), rows)
    found = await registered(session, wanted)
    await session.commit()
    return {h: u for h, u in found.items() if u != user_id}


async def contacts(session: AsyncSession, *, user_id: str) -> list[tuple[str, str | None]]:
    """The user's contacts with the user id of those now registered (re-checks cost nothing): the
    imported ones and the directory of the organisations that provision the user (messenger.scim)."""
    await _index_new_users(session)
    await session.commit()
    imported = await session.scalars(select(Contact.hash).where(Contact.user_id == user_id))
    directory = {phone_hash(p) for p in await scim.fellow_phones(session, user_id=user_id)}
    hashes = sorted(set(imported) | directory)
    found = await registered(session, hashes)
    return [(h, found.get(h)) for h in hashes]


async def clear(session: AsyncSession, *, user_id: str) -> None:
    await session.execute(delete(Contact).where(Contact.user_id == user_id))
    await session.commit()


async def _export_rights(ctx: Context) -> Mapping[str, Any]:
    """Data rights: the user's imported contact hashes (with who is registered) and their lookups."""
    hashes = list(
        await ctx.session.scalars(
            select(Contact.hash).where(Contact.user_id == ctx.subject.user_id).order_by(Contact.hash)
        )
    )
    found = await registered(ctx.session, hashes)
    looked = await ctx.session.execute(
        select(ContactLookup.hash, ContactLookup.looked_at)
        .where(ContactLookup.user_id == ctx.subject.user_id)
        .order_by(ContactLookup.looked_at, ContactLookup.hash)
    )
    return {
        "contacts": [{"hash": h, "user_id": found.get(h)} for h in hashes],
        "contact_lookups": [{"hash": h, "looked_at": t} for h, t in looked.all()],
    }


async def _erase_rights(ctx: Context) -> Mapping[str, int]:
    """Data rights: contacts, lookups and the phone hash go (others' address books keep their own hashes)."""
    session, user_id = ctx.session, ctx.subject.user_id
    gone = await session.execute(delete(Contact).where(Contact.user_id == user_id))
    await session.execute(delete(ContactLookup).where(ContactLookup.user_id == user_id))
    await session.execute(delete(PhoneHash).where(PhoneHash.user_id == user_id))
    return {"contacts": gone.rowcount or 0}  # type: ignore[attr-defined]


DATA_RIGHTS = Provider(
    name="contacts",
    covers={"contacts": ("user_id",), "contact_lookups": ("user_id",), "phone_hashes": ("user_id",)},
    export=_export_rights,
    erase=_erase_rights,
)
