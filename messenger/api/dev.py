"""``GET /v1/dev/sms/{phone}``: last code sent to a number (load tests); only with ``dev_sms_endpoint``."""

from __future__ import annotations

from fastapi import APIRouter

from messenger.api.deps import NodeDep
from messenger.errors import NotFound
from messenger.sms import last_code

router = APIRouter(prefix="/v1/dev", tags=["dev"], include_in_schema=False)


@router.get("/sms/{phone}")
async def last_sms(phone: str, node: NodeDep) -> dict[str, str]:
    if not node.settings.dev_sms_endpoint:
        raise NotFound("not found", code="not_found")
    code = last_code(node.settings.sms_path, phone)
    if code is None:
        raise NotFound(f"no code was sent to {phone}", code="no_code")
    return {"phone": phone, "code": code}
