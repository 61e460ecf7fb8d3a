"""Run independent jobs (replications, sweep points): inline, in a local process pool, or on Dask.

``scheduler`` is a Dask distributed address (``tcp://host:8786``); without it a
``ProcessPoolExecutor`` spreads the jobs over local cores (``workers=1`` runs them inline).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from sim.errors import SimError

__all__ = ["run_jobs"]

T = TypeVar("T")


def run_jobs(
    fn: Callable[..., T],
    jobs: Sequence[tuple[Any, ...]],
    scheduler: str | None = None,
    workers: int | None = None,
) -> list[T]:
    """``[fn(*job) for job in jobs]``, in job order, on the chosen executor."""
    if scheduler:
        return _on_dask(fn, jobs, scheduler)
    workers = min(len(jobs), workers or os.cpu_count() or 1)
    if workers <= 1:
        return [fn(*job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, *zip(*jobs, strict=True)))


def _on_dask(fn: Callable[..., T], jobs: Sequence[tuple[Any, ...]], scheduler: str) -> list[T]:
    from distributed import Client

    try:
        client = Client(scheduler, timeout="10s")
    except OSError as exc:
        raise SimError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        futures = [client.submit(fn, *job, pure=False) for job in jobs]
        return list(client.gather(futures))
