"""A node's keys in practice, on SQLite and on PostgreSQL (2 workers + Redis when configured): with a key
store apart from the data dir no key is in the data dir; rotating the media key re-wraps every data key
and leaves the stored media byte for byte as it was; a node on a PKCS#11 token (SoftHSM2) signs,
audits, seals media and rotates with keys that never leave the token."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pkcs11
import pytest
from media_files import PDF
from softhsm import Token
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from messenger.client import MessengerClient
from messenger.keystore.file import FileKeyStore
from messenger.keystore.pkcs11 import Pkcs11KeyStore

Signup = Callable[..., Awaitable[MessengerClient]]
STATE = "RU-MOW"


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keystore")


@pytest.fixture(scope="module")
def file_node(node_factory: Callable[..., Any], keys_dir: Path) -> Any:
    return node_factory(shared_backends=True, MSGFLEET_KEYSTORE_DIR=str(keys_dir))


@pytest.fixture(scope="module")
def token_node(node_factory: Callable[..., Any], module_softhsm: Token) -> Any:
    return node_factory(shared_backends=True, **module_softhsm.env())


def cli(node: Any, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "msgfleet.cli", *args, "--state", STATE]
    cmd += ["--data-dir", str(node.data_dir), "--database-url", node.db_url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, **env})


def node_key_files(node: Any) -> list[Path]:
    """Key files in the data dir, but for the login-code HMAC key (``secret.key``): it only keys hashes
    of codes that expire in minutes, and stays beside the database (docs/SECURITY.md, limits)."""
    return [p for p in node.data_dir.rglob("*.key") if p.name != "secret.key"]


def stored(node: Any) -> dict[str, bytes]:
    root = node.data_dir / "media" / "objects"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


async def key_ids(node: Any) -> dict[str, str]:
    engine = create_async_engine(node.db_url)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, key_id FROM media_objects"))).all()
    await engine.dispose()
    return dict(rows)  # type: ignore[arg-type]


async def upload(client: MessengerClient, data: bytes) -> str:
    r = await client.http.post("/v1/media", params={"kind": "document"}, content=data)
    assert r.status_code == 201, r.text
    media_id: str = r.json()["id"]
    return media_id


async def download(client: MessengerClient, media_id: str) -> bytes:
    r = await client.http.get(f"/v1/media/{media_id}")
    assert r.status_code == 200, r.text
    return r.content


async def test_rotation_rewraps_without_touching_media(
    file_node: Any, keys_dir: Path, signup: Signup
) -> None:
    env = {"MSGFLEET_KEYSTORE_DIR": str(keys_dir)}
    assert node_key_files(file_node) == [], "a key file is in the data dir"
    assert sorted(p.name for p in keys_dir.iterdir()) == [
        "audit.key",
        "federation.key",
        "media.key",
        "totp.key",
    ]
    alice = await signup(node_=file_node)
    files = {await upload(alice, PDF + os.urandom(n)): b"" for n in (10, 70_000, 200_000)}
    for media_id in files:
        files[media_id] = await download(alice, media_id)
    old = FileKeyStore(keys_dir).current_id("media")
    assert set((await key_ids(file_node)).values()) == {old}
    before = stored(file_node)

    done = cli(file_node, "keys", "rotate-media", "--retire", env=env)
    assert done.returncode == 0, done.stderr
    new = FileKeyStore(keys_dir).current_id("media")
    assert done.stdout.strip() == f"media key {new}: 3 data keys re-wrapped; retired {old}"
    assert new != old and not (keys_dir / f"media.{old}.key").exists()
    assert stored(file_node) == before  # not one media byte re-encrypted
    assert set((await key_ids(file_node)).values()) == {new}
    for media_id, data in files.items():  # the running node opens them with the new version
        assert await download(alice, media_id) == data
    fresh = await upload(alice, PDF + os.urandom(99))
    assert (await key_ids(file_node))[fresh] == new

    kept = cli(file_node, "keys", "rotate-media", env=env)  # without --retire the old version stays
    newest = FileKeyStore(keys_dir).current_id("media")
    assert kept.stdout.strip() == f"media key {newest}: 4 data keys re-wrapped; kept {new}"
    assert (keys_dir / f"media.{new}.key").exists()


async def test_a_node_on_a_pkcs11_token(
    token_node: Any, module_softhsm: Token, signup: Signup, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = module_softhsm.env()
    assert node_key_files(token_node) == [], "a key file is in the data dir"
    alice = await signup(node_=token_node)  # its login is audited: the chain is keyed on the token
    data = PDF + os.urandom(150_000)
    media_id = await upload(alice, data)
    assert await download(alice, media_id) == data

    monkeypatch.setenv("SOFTHSM2_CONF", str(module_softhsm.conf))
    pkcs11.lib(module_softhsm.module).reinitialize()
    store = Pkcs11KeyStore(module_softhsm.module, module_softhsm.label, module_softhsm.pin)
    try:
        published = httpx.get(f"{token_node.url}/.well-known/msgfleet").json()["federation"]["public_key"]
        assert base64.b64decode(published) == bytes(store.signer("federation").verify_key)
        old = store.current_id("media")
    finally:
        store.close()

    verified = cli(token_node, "audit", "verify", env=env)
    assert verified.returncode == 0 and "audit log intact" in verified.stdout, verified.stderr
    rotated = cli(token_node, "keys", "rotate-media", "--retire", env=env)
    assert rotated.returncode == 0 and f"re-wrapped; retired {old}" in rotated.stdout, rotated.stderr
    assert await download(alice, media_id) == data
    wrong = cli(token_node, "audit", "verify", env={**env, "MSGFLEET_KEYSTORE_PKCS11_PIN": "0000"})
    assert wrong.returncode == 2 and "PinIncorrect" in wrong.stderr and len(wrong.stderr.splitlines()) == 1
