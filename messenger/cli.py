"""Node commands: ``msgfleet serve`` and ``msgfleet migrate`` (also ``python -m messenger ...``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

Opt = typer.Option


@app.command()
def serve(
    state: Annotated[str, Opt(help="ISO 3166-2 id of the state this node serves, e.g. RU-MOW.")],
    host: Annotated[str | None, Opt(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, Opt(help="TCP port (default 8080).")] = None,
    data_dir: Annotated[
        Path | None, Opt(help="SQLite file, SMS sink, secret (default .msgfleet/node).")
    ] = None,
    database_url: Annotated[
        str | None, Opt(help="postgresql+asyncpg://… (default SQLite in data dir).")
    ] = None,
    redis_url: Annotated[str | None, Opt(help="redis://… for fan-out across worker processes.")] = None,
    workers: Annotated[int | None, Opt(help="Worker processes (> 1 needs PostgreSQL and Redis).")] = None,
    base_url: Annotated[str | None, Opt(help="Public URL of this node (default http://HOST:PORT).")] = None,
    peers: Annotated[
        Path | None, Opt(help="Peers file: state, url, public_key of each peer node; policy.")
    ] = None,
    federation_key: Annotated[
        Path | None, Opt(help="Ed25519 signing key file (default DATA_DIR/federation.key, created).")
    ] = None,
) -> None:
    """Run a messenger node for one state (settings also from MSGFLEET_* environment variables)."""
    from messenger.serve import run
    from messenger.settings import load_settings

    run(
        load_settings(
            state=state,
            host=host,
            port=port,
            data_dir=data_dir,
            database_url=database_url,
            redis_url=redis_url,
            workers=workers,
            base_url=base_url,
            peers=peers,
            federation_key=federation_key,
        )
    )


@app.command()
def migrate(
    state: Annotated[str, Opt(help="ISO 3166-2 id of the node's state.")],
    data_dir: Annotated[Path | None, Opt(help="Data dir of the SQLite default.")] = None,
    database_url: Annotated[str | None, Opt(help="postgresql+asyncpg://…")] = None,
) -> None:
    """Apply the node's database migrations and exit (``serve`` does this too; for init jobs)."""
    from messenger.db.migrate import upgrade
    from messenger.settings import load_settings

    settings = load_settings(state=state, data_dir=data_dir, database_url=database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)


audit_app = typer.Typer(add_completion=False, help="The node's hash-chained audit log.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    state: Annotated[str, Opt(help="ISO 3166-2 id of the node's state.")],
    data_dir: Annotated[Path | None, Opt(help="Data dir of the SQLite default.")] = None,
    database_url: Annotated[str | None, Opt(help="postgresql+asyncpg://…")] = None,
) -> None:
    """Check every audit entry's hash chain; exit 1 naming the first edited, removed or reordered entry."""
    import asyncio

    from messenger.audit import verify_url
    from messenger.settings import load_settings

    settings = load_settings(state=state, data_dir=data_dir, database_url=database_url)
    result = asyncio.run(verify_url(settings.db_url))
    typer.echo(result.line(), err=not result.ok)
    if not result.ok:
        raise typer.Exit(1)
