"""Rendering works in a process that already ran (and closed) an asyncio loop, as the demo does."""

import asyncio
from dataclasses import replace

from infra.render import render
from infra.stack import load_stack_file


def test_render_after_asyncio_run_closed_the_loop() -> None:
    async def nothing() -> None:
        return None

    asyncio.run(nothing())  # leaves the main thread without a current event loop
    rendering = render(replace(load_stack_file("dev"), phase=1))
    assert rendering.manifests, "no manifest was rendered"
    assert not rendering.violations
