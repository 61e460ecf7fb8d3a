"""scim2-tester (a third party's RFC 7643/7644 checker) against the live node over loopback.

Every check must pass except the two below, which fail by design (docs/IDENTITY.md): scim2-tester
PATCHes ``phoneNumbers`` with random 10-digit values of random types and expects them back verbatim,
while the node keeps only the mobile number and stores it in E.164 (``8933965509`` comes back as
``+78933965509``, a ``fax`` number is dropped).
"""

from __future__ import annotations

import asyncio

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server
from scim_helpers import Org

KNOWN: dict[tuple[str, str], str] = {
    ("check_add_attribute", "User"): "phoneNumbers: only the mobile number is kept, in E.164",
    ("check_replace_attribute", "User"): "phoneNumbers: only the mobile number is kept, in E.164",
}


def _run(org: Org) -> list[tuple[str, str, str, str]]:
    with httpx2.Client(base_url=org.base, headers=org.headers, timeout=30) as http:
        results = check_server(SyncSCIMClient(http))
    return [(r.title, str(r.resource_type or ""), r.status.name, str(r.reason)) for r in results]


async def test_scim2_tester_passes(org: Org) -> None:
    results = await asyncio.to_thread(_run, org)
    passed = [r for r in results if r[2] == Status.SUCCESS.name]
    known = [r for r in results if (r[0], r[1]) in KNOWN and "'phoneNumbers'" in r[3]]
    others = [r for r in results if r not in passed and r not in known]
    print(f"scim2-tester: {len(results)} checks, {len(passed)} passed, {len(known)} known (phoneNumbers)")
    assert not others, "\n".join(" | ".join(r) for r in others)
    assert len(passed) >= 60  # the run did check the server, not skip it
