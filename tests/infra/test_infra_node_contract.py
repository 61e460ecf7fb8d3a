"""The rendered node configuration is what the real node accepts: its env, peers file and key files
are loaded with messenger's own loaders (a contract test; infra/ itself never imports messenger)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rendered_stacks import rendered

from infra.manifests.node import CONFIG_DIR, DATA_DIR, KEYS_DIR

STATE = "RU-MOW"


def _site(kind: str, name: str) -> dict:
    for item in rendered("dev").by_state()[STATE]:
        if item.manifest["kind"] == kind and item.manifest["metadata"]["name"] == name:
            return item.manifest
    raise AssertionError(f"no {kind}/{name}")


@pytest.fixture
def node_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Lay out the pod's mounted files under ``tmp_path`` and export its environment."""
    secrets = {
        item.manifest["metadata"]["name"]: item.manifest["stringData"]
        for item in rendered("dev").by_state()[STATE]
        if item.manifest["kind"] == "Secret"
    }
    config, keys = tmp_path / "etc", tmp_path / "keys"
    config.mkdir()
    keys.mkdir()
    for key, value in _site("ConfigMap", "node-config")["data"].items():
        (config / key).write_text(value)
    for key in ("federation.key", "media.key"):
        (keys / key).write_text(secrets["node-secrets"][key])
    container = _site("Deployment", "node")["spec"]["template"]["spec"]["containers"][0]
    for var in container["env"]:
        if "value" in var:
            value = str(var["value"])
            for inside, outside in ((KEYS_DIR, keys), (CONFIG_DIR, config), (DATA_DIR, tmp_path / "data")):
                value = value.replace(inside, str(outside))
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            value = secrets[ref["name"]][ref["key"]]
        monkeypatch.setenv(var["name"], value)
    return tmp_path


def test_node_settings_accept_the_rendered_env(node_env: Path) -> None:
    from messenger.media.settings import load_media_settings
    from messenger.settings import load_settings

    settings = load_settings()
    assert settings.state == STATE and settings.database_url and settings.redis_url
    assert settings.base_url == rendered("dev").outputs["sites"][STATE]["url"]
    media = load_media_settings()
    assert media.backend == "s3" and media.s3_endpoint and media.s3_access_key and media.s3_secret_key


def test_node_loads_the_rendered_peers_and_keys(node_env: Path) -> None:
    from messenger.federation.keys import public_key_b64, read_key
    from messenger.federation.peers import load_config
    from messenger.media.crypto import KeyWrapper
    from messenger.media.settings import load_media_settings
    from messenger.settings import load_settings

    settings = load_settings()
    assert settings.peers is not None and settings.federation_key is not None
    federation = load_config(settings.state, settings.peers)
    assert sorted(federation.peers) == ["RU-SPE"] and federation.forbidden == frozenset({"RU-NVS"})
    own = rendered("dev").outputs["sites"][STATE]["public_key"]
    assert public_key_b64(read_key(settings.federation_key)) == own
    key_file = load_media_settings().key_file
    assert key_file is not None
    KeyWrapper.from_file(key_file)  # 32 bytes of hex


def test_database_password_reaches_asyncpg_outside_the_url(node_env: Path) -> None:
    import os

    from sqlalchemy.engine import make_url

    from messenger.settings import load_settings

    url = make_url(load_settings().db_url)
    assert url.password is None and url.username == "msgfleet", "no password inside the URL"
    password = _site("Secret", "postgres-credentials")["stringData"]["password"]
    # asyncpg takes the password from PGPASSWORD when the URL has none (asyncpg.connect_utils)
    assert os.environ["PGPASSWORD"] == password


def test_ingress_and_spool_take_the_nodes_largest_upload() -> None:
    from infra.manifests.node import LARGEST_UPLOAD_BYTES
    from messenger.media.settings import MediaSettings

    media = MediaSettings()
    largest = max(getattr(media, name) for name in type(media).model_fields if name.endswith("_max_bytes"))
    assert largest == LARGEST_UPLOAD_BYTES, "infra's upload limit must be the node's largest"
