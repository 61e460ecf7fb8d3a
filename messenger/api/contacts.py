"""``/v1/contacts``: import hashed contacts, see which are registered (rate-limited discovery)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import Field

from messenger.api.deps import CurrentDevice, SessionDep
from messenger.api.schemas import Body, Out
from messenger.services import contacts

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])


class ImportIn(Body):
    hashes: list[str] = Field(description="SHA-256 hex of each contact's E.164 number, hashed on the device")


class MatchOut(Out):
    hash: str
    user_id: str | None


@router.post("")
async def import_contacts(body: ImportIn, session: SessionDep, device: CurrentDevice) -> list[MatchOut]:
    """Add contacts; returns the registered ones. 429 + Retry-After past the discovery allowance."""
    found = await contacts.import_contacts(session, user_id=device.user_id, hashes=body.hashes)
    return [MatchOut(hash=h, user_id=u) for h, u in found.items()]


@router.get("")
async def list_contacts(session: SessionDep, device: CurrentDevice) -> list[MatchOut]:
    return [MatchOut(hash=h, user_id=u) for h, u in await contacts.contacts(session, user_id=device.user_id)]


@router.delete("", status_code=204)
async def clear(session: SessionDep, device: CurrentDevice) -> Response:
    await contacts.clear(session, user_id=device.user_id)
    return Response(status_code=204)
