"""After a cross-state conversation, no node's database holds another state's users' personal data:
every table and column is scanned for their phone numbers and device keys, and the tables of users,
devices, keys, codes, to-device records and device events hold only the node's own users and devices."""

from __future__ import annotations

from typing import Any

from fednodes import Nodes, StateNode, chat_visible, collect
from sqlalchemy import String, Text, column, inspect, select, table, text
from sqlalchemy.ext.asyncio import create_async_engine


async def _cells(node: StateNode) -> list[tuple[str, str, str]]:
    """Every non-empty text cell of every table: (table, column, value)."""
    engine = create_async_engine(node.db_url)
    out: list[tuple[str, str, str]] = []
    try:
        async with engine.connect() as conn:
            layout = await conn.run_sync(
                lambda c: {
                    name: [
                        col["name"]
                        for col in inspect(c).get_columns(name)
                        if isinstance(col["type"], String | Text)
                    ]
                    for name in inspect(c).get_table_names()
                }
            )
            for name, columns in layout.items():
                if not columns:
                    continue
                rows = await conn.execute(select(*(column(c) for c in columns)).select_from(table(name)))
                for row in rows:
                    out += [(name, col, val) for col, val in zip(columns, row, strict=True) if val]
    finally:
        await engine.dispose()
    return out


async def _own(node: StateNode) -> dict[str, set[str]]:
    """A node's own users' personal data: phone numbers, device ids and public keys."""
    phones = {r[0] for r in await node.rows("SELECT phone FROM users")}
    devices = await node.rows("SELECT id, identity_key, signing_key FROM devices")
    prekeys = {r[0] for r in await node.rows("SELECT public_key FROM prekeys")}
    keys = {k for _, ik, sk in devices for k in (ik, sk) if k} | prekeys
    return {"phones": phones, "devices": {r[0] for r in devices}, "keys": keys}


async def test_each_node_keeps_only_its_own_users_data(three_states: Nodes, login: Any) -> None:
    a = await login(three_states["RU-MOW"])
    b = await login(three_states["RU-SPE"])
    c = await login(three_states["RU-NVS"])
    group = await a.create_group([b.user_id, c.user_id], "residency")
    private = await b.open_private(c.user_id)
    for client, chat_id in [(a, group), (b, group), (c, group), (b, private), (c, private)]:
        await chat_visible(client, chat_id)  # the chats reach their replicas
    for client in (a, b, c):
        await client.send(group, f"hello from {client.user_id}")
    await b.send(private, "just us")
    for client in (a, b, c):
        assert len(await collect(client, group, 3)) == 3
    assert len(await collect(c, private, 1)) == 1

    own = {state: await _own(node) for state, node in three_states.by_state.items()}
    for state, node in three_states.by_state.items():
        foreign = set().union(*(own[o]["phones"] | own[o]["keys"] for o in own if o != state))
        leaked = [(t, col, v[:60]) for t, col, v in await _cells(node) if any(f in v for f in foreign)]
        assert not leaked, f"{state} stores other states' personal data: {leaked[:5]}"

        suffix = f"@{state}"
        assert all(r[0].endswith(suffix) for r in await node.rows("SELECT id FROM users")), state
        assert all(r[0].endswith(suffix) for r in await node.rows("SELECT user_id FROM devices")), state
        codes = {r[0] for r in await node.rows("SELECT DISTINCT phone FROM login_codes")}
        assert codes <= own[state]["phones"], state
        txn_devices = {r[0] for r in await node.rows("SELECT DISTINCT device_id FROM to_device_txns")}
        assert txn_devices <= own[state]["devices"], f"{state}: others' to-device txns"
        event_devices = {r[0] for r in await node.rows("SELECT DISTINCT device_id FROM device_events")}
        assert event_devices <= own[state]["devices"], state
        orphan_chats = await node.rows(
            "SELECT id FROM chats WHERE id NOT IN (SELECT chat_id FROM members WHERE user_id LIKE :s)",
            s=f"%{suffix}",
        )
        assert not orphan_chats, f"{state} keeps chats without a local member: {orphan_chats}"


async def test_only_the_provider_names_a_user_was_verified_by_cross_the_border(
    three_states: Nodes, login: Any
) -> None:
    a = await login(three_states["RU-MOW"])
    b = await login(three_states["RU-SPE"])
    home = three_states["RU-SPE"]
    # The link an OpenID sign-in makes (messenger.identity.service), written into b's own node: the
    # federation fixtures run no identity provider. The claims are what must not leave the state.
    engine = create_async_engine(home.db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO identity_links (user_id, provider, subject_hash, claims, verified_at) "
                    "VALUES (:u, 'esia', :s, :c, 0)"
                ),
                {"u": b.user_id, "s": "ab" * 32, "c": '{"phone_number": "+79990000000"}'},
            )
    finally:
        await engine.dispose()

    chat_id = await a.open_private(b.user_id)  # a prekey claim needs a chat partner
    await chat_visible(b, chat_id)
    for claim in ("true", "false"):
        found = await a.request("GET", f"/v1/users/{b.user_id}/devices", params={"claim": claim})
        assert [d["identity_verified_by"] for d in found] == [["esia"]], claim
    devices = await a.request("GET", f"/v1/chats/{chat_id}/devices")
    assert {d["user_id"]: d["identity_verified_by"] for d in devices} == {a.user_id: [], b.user_id: ["esia"]}
    # The signed answer itself: names only, no claim, no subject.
    answer = await a.request("GET", f"/v1/users/{b.user_id}/devices", params={"claim": "false"})
    assert "+79990000000" not in str(answer) and "ab" * 32 not in str(answer)
