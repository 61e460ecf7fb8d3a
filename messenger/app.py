"""The app factory: ``create_app(settings)`` wires settings, storage, realtime, error handling and routers.

To add a feature: write ``messenger/api/<feature>.py`` exposing ``router`` (and optionally
``async def startup(node)`` / ``async def shutdown(node)``), then add its module name to ``ROUTERS``.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import ModuleType

from fastapi import FastAPI

from messenger.api.errors import ERROR_RESPONSES, install_error_handlers
from messenger.api.middleware import BodyLimit, Timing
from messenger.node import Node
from messenger.settings import Settings, load_settings

# Routes are matched in this order: the send route, the node's hottest, first (matching walks routers).
ROUTERS: tuple[str, ...] = (
    "messenger.api.messages",
    "messenger.api.ops",
    "messenger.api.auth",
    "messenger.api.oidc",
    "messenger.api.devicelink",
    "messenger.api.devices",
    "messenger.api.account",
    "messenger.api.keys",
    "messenger.api.todevice",
    "messenger.api.backup",
    "messenger.api.chats",
    "messenger.api.members",
    "messenger.api.pins",
    "messenger.api.sync",
    "messenger.api.ws",
    "messenger.federation.routes",
    "messenger.api.dev",
    "messenger.api.calls",
    "messenger.api.billing",
    "messenger.api.meetings",
    "messenger.api.media",
    "messenger.api.datarights",
    "messenger.api.admin",
    "messenger.api.locations",
    "messenger.api.replies",
    "messenger.api.channels",
    "messenger.api.search",
    "messenger.api.contacts",
    "messenger.api.scim",
)


def create_app(settings: Settings, *, routers: Sequence[str] = ROUTERS) -> FastAPI:
    """A node application for ``settings``; storage and hub are opened in the lifespan, not here."""
    modules: list[ModuleType] = [importlib.import_module(name) for name in routers]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        node = await Node.start(settings)
        app.state.node = node
        for module in modules:
            if hasattr(module, "startup"):
                await module.startup(node)
        try:
            yield
        finally:
            for module in reversed(modules):
                if hasattr(module, "shutdown"):
                    await module.shutdown(node)
            await node.stop()

    app = FastAPI(
        title=f"msgfleet node {settings.state}",
        version="1",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        description='Messenger node API. Errors are {"error": code, "detail": sentence}. See docs/API.md.',
        # The node exports Prometheus metrics and JSON logs, not OpenTelemetry; FastAPI's telemetry
        # would otherwise look up the OpenTelemetry providers on every request (5% of the send path).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    install_error_handlers(app)
    for module in modules:
        app.include_router(module.router)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(Timing)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` worker processes: settings come from ``MSGFLEET_*``."""
    return create_app(load_settings())
