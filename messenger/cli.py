"""Node commands: ``msgfleet serve`` and ``msgfleet migrate`` (also ``python -m messenger ...``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

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


audit_app = typer.Typer(add_completion=False, help="The node's keyed, hash-chained audit log.")
app.add_typer(audit_app, name="audit")
keys_app = typer.Typer(add_completion=False, help="The node's key store (messenger/keystore).")
app.add_typer(keys_app, name="keys")

StateOpt = Annotated[str, Opt(help="ISO 3166-2 id of the node's state.")]
DataDirOpt = Annotated[Path | None, Opt(help="Data dir of the SQLite default (and of the dev key layout).")]
DatabaseOpt = Annotated[str | None, Opt(help="postgresql+asyncpg://…")]
CheckpointsOpt = Annotated[
    Path | None, Opt(help="Checkpoint file (JSON lines; default MSGFLEET_AUDIT_CHECKPOINT_FILE).")
]


@audit_app.command("verify")
def audit_verify(
    state: StateOpt,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
    checkpoints: CheckpointsOpt = None,
) -> None:
    """Check every entry's keyed hash and the checkpoints; exit 1 naming the first edited, removed,
    reordered or forged entry, or entries cut off after a checkpoint."""
    import asyncio

    from messenger.audit import read_checkpoints, verify_url
    from messenger.keystore import open_keystore
    from messenger.settings import load_settings

    settings = load_settings(state=state, data_dir=data_dir, database_url=database_url)
    path = checkpoints or settings.audit_checkpoint_file
    keys = open_keystore(settings)
    try:
        found = read_checkpoints(keys, path, state=settings.state) if path else []
        result = asyncio.run(verify_url(settings.db_url, keys, found))
    finally:
        keys.close()
    typer.echo(result.line(), err=not result.ok)
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(
    state: StateOpt,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
    out: CheckpointsOpt = None,
) -> None:
    """Verify the chain, then append its head (seq, hash, time, HMAC) to the checkpoint file; keep copies
    of that file away from the database (docs/SECURITY.md)."""
    import asyncio

    from messenger.audit import checkpoint_url
    from messenger.errors import MessengerConfigError
    from messenger.keystore import open_keystore
    from messenger.settings import load_settings

    settings = load_settings(state=state, data_dir=data_dir, database_url=database_url)
    path = out or settings.audit_checkpoint_file
    if path is None:
        raise MessengerConfigError("audit checkpoint: give --out or set MSGFLEET_AUDIT_CHECKPOINT_FILE")
    keys = open_keystore(settings)
    try:
        cp = asyncio.run(checkpoint_url(settings.db_url, keys, state=settings.state, path=path))
    finally:
        keys.close()
    typer.echo(f"checkpoint of {cp.state} at entry {cp.seq}, head {cp.head} in {path}")


@keys_app.command("rotate-media")
def keys_rotate_media(
    state: StateOpt,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
    retire: Annotated[bool, Opt(help="Delete old media key versions no row uses any more.")] = False,
) -> None:
    """Make a new media key version and re-wrap every media data key under it (media bytes untouched)."""
    import asyncio

    from messenger.db.engine import make_engine, make_sessionmaker
    from messenger.keystore import open_keystore
    from messenger.media.rekey import rotate
    from messenger.settings import load_settings

    settings = load_settings(state=state, data_dir=data_dir, database_url=database_url)
    keys = open_keystore(settings)

    async def run() -> str:
        engine = make_engine(settings.db_url)
        try:
            return (await rotate(make_sessionmaker(engine), keys, retire=retire)).line()
        finally:
            await engine.dispose()

    try:
        typer.echo(asyncio.run(run()))
    finally:
        keys.close()


org_app = typer.Typer(add_completion=False, help="Organisations whose directories sync over SCIM (/scim/v2).")
app.add_typer(org_app, name="org")


def _org_run(settings: Any, work: Callable[[AsyncSession], Awaitable[str]]) -> str:
    """Run ``work`` in a session of the node's database (with its key store, for the audit entry)."""
    import asyncio

    from messenger.db.engine import make_engine, make_sessionmaker
    from messenger.keystore import SESSION_INFO, open_keystore

    keys = open_keystore(settings)

    async def run() -> str:
        engine = make_engine(settings.db_url)
        try:
            async with make_sessionmaker(engine)(info={SESSION_INFO: keys}) as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    finally:
        keys.close()


@org_app.command("create")
def org_create(
    state: StateOpt,
    name: Annotated[str, Opt(help="The organisation's name, e.g. 'School 57'.")],
    kind: Annotated[str, Opt(help="school, company or ministry.")],
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create an organisation and print its id and SCIM bearer token (shown once; stored hashed)."""
    from messenger.errors import MessengerConfigError
    from messenger.scim import service
    from messenger.settings import load_settings

    if kind not in service.KINDS:
        raise MessengerConfigError(f"org create: --kind {kind!r} is not one of {', '.join(service.KINDS)}")
    if not 0 < len(name) <= 200:
        raise MessengerConfigError("org create: --name must have 1 to 200 characters")
    settings = load_settings(state=state, data_dir=data_dir, database_url=database_url)

    async def work(session: AsyncSession) -> str:
        org, token = await service.create_org(session, name=name, kind=kind, created_by="cli")
        return f"organisation {org.id} ({kind}) created; SCIM token: {token}"

    typer.echo(_org_run(settings, work))


@org_app.command("rotate-token")
def org_rotate_token(
    state: StateOpt,
    org_id: Annotated[str, typer.Argument(help="The organisation's id (o…).")],
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Print a new SCIM token for the organisation; the old one stops working at once."""
    from messenger.errors import MessengerConfigError
    from messenger.scim import service
    from messenger.scim.models import Organisation
    from messenger.settings import load_settings

    settings = load_settings(state=state, data_dir=data_dir, database_url=database_url)

    async def work(session: AsyncSession) -> str:
        org = await session.get(Organisation, org_id)
        if org is None:
            raise MessengerConfigError(f"org rotate-token: no organisation {org_id!r} in {settings.db_url}")
        token = await service.rotate_token(session, org=org, actor="cli")
        return f"organisation {org.id}: new SCIM token: {token}"

    typer.echo(_org_run(settings, work))
