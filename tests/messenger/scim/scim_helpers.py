"""The organisation the SCIM tests provision as (made by ``conftest.new_org``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Org:
    id: str
    token: str
    base: str  # http://127.0.0.1:PORT/scim/v2

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}
