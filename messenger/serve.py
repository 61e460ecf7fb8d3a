"""Start a node: validate settings, apply migrations (``alembic upgrade heads``), run uvicorn workers."""

from __future__ import annotations

import logging.config
import os
import shutil

from messenger.datarights.settings import load_retention_settings
from messenger.db.migrate import upgrade
from messenger.federation.service import prepare as prepare_federation
from messenger.keystore import open_keystore
from messenger.logs import log_config
from messenger.node import node_secret
from messenger.settings import Settings

log = logging.getLogger("messenger.serve")


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``MSGFLEET_*`` variables that rebuild ``settings`` in a worker process."""
    env = {}
    for name, value in settings.model_dump(exclude_none=True).items():
        env[f"MSGFLEET_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def run(settings: Settings) -> None:
    """Run the node in the foreground until interrupted."""
    import uvicorn

    config = log_config(settings.log_level, settings.json_logs)
    logging.config.dictConfig(config)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    node_secret(settings.data_dir)  # create once, before workers race for it
    keys = open_keystore(settings)
    keys.ensure()  # every node key likewise (federation's too); a bad peers file stops here with one line
    prepare_federation(settings, keys)
    keys.close()
    load_retention_settings()  # a bad rule stops here too, not in each worker's startup
    if settings.keystore == "file" and settings.keystore_dir is None:
        log.warning(
            "node keys are inside the data dir (development layout): set MSGFLEET_KEYSTORE_DIR to a path "
            "outside it, or MSGFLEET_KEYSTORE=pkcs11",
            extra={"keys": str(settings.data_dir / "keys")},
        )
    upgrade(settings.db_url)
    log.info(
        "migrations applied", extra={"state": settings.state, "database": settings.db_url.split("://")[0]}
    )
    common = {
        "host": settings.host,
        "port": settings.port,
        "log_config": config,
        "loop": "uvloop",
        "http": "httptools",
        "ws": "websockets-sansio",
        "proxy_headers": False,
        "access_log": False,
    }
    if settings.workers == 1:
        from messenger.app import create_app

        uvicorn.run(create_app(settings), **common)  # type: ignore[arg-type]
        return
    prom = settings.data_dir / "prometheus"
    shutil.rmtree(prom, ignore_errors=True)
    prom.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom)
    os.environ.update(settings_env(settings))
    uvicorn.run("messenger.app:create_app_from_env", factory=True, workers=settings.workers, **common)  # type: ignore[arg-type]
