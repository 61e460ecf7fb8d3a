"""Run independent jobs (replications, sweep points): inline, in a local process pool, or on Dask.

``scheduler`` is a Dask distributed address (``tcp://host:8786``); without it a
``ProcessPoolExecutor`` spreads the jobs over local cores (``workers=1`` runs them inline).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from sim.errors import SimError

__all__ = ["run_jobs"]

T = TypeVar("T")


def _nothing() -> None:
    return None


def run_jobs(
    fn: Callable[..., T],
    jobs: Sequence[tuple[Any, ...]],
    scheduler: str | None = None,
    workers: int | None = None,
    on_done: Callable[[], None] | None = None,
) -> list[T]:
    """``[fn(*job) for job in jobs]``, in job order, on the chosen executor.

    ``on_done`` is called once per finished job (a progress bar's ``advance``).
    """
    tick = on_done or _nothing
    if scheduler:
        return _on_dask(fn, jobs, scheduler, tick)
    workers = min(len(jobs), workers or os.cpu_count() or 1)
    if workers <= 1:
        results = []
        for job in jobs:
            results.append(fn(*job))
            tick()
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fn, *job) for job in jobs]
        for _ in as_completed(futures):
            tick()
        return [f.result() for f in futures]


def _on_dask(
    fn: Callable[..., T],
    jobs: Sequence[tuple[Any, ...]],
    scheduler: str,
    tick: Callable[[], None],
    connect_timeout_s: float = 10.0,
) -> list[T]:
    from distributed import Client
    from distributed import as_completed as dask_completed

    try:
        client = Client(scheduler, timeout=f"{connect_timeout_s}s")
    except (OSError, ValueError) as exc:  # ValueError: a malformed address (no port, bad scheme)
        raise SimError(f"--scheduler {scheduler!r}: cannot reach a Dask scheduler: {exc}") from None
    with client:
        futures = [client.submit(fn, *job, pure=False) for job in jobs]
        for _ in dask_completed(futures):
            tick()
        return list(client.gather(futures))
