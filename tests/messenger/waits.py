"""Waiting on an event (a message arriving, a fan-out finishing) with a generous bound.

The bound is for a hang, not for slowness: on a machine loaded 8-fold an event may take many times
its idle time, and a test that fails then throws good work away (issue 17). A timeout names what was
awaited.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

EVENT_TIMEOUT = 120.0  # seconds


async def wait_for(
    check: Callable[[], Any], *, timeout: float = EVENT_TIMEOUT, what: str = "condition"
) -> Any:
    """Poll the async ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
