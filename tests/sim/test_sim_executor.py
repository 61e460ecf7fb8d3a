"""Replications give the same records inline, in a process pool and on a local Dask cluster."""

from pathlib import Path

import pandas as pd
import pytest

from msgfleet.schema import LatencySim, load_plan
from sim.errors import SimError
from sim.executor import _on_dask, run_jobs
from sim.latency import predict_p95, run_latency

DEV = Path(__file__).resolve().parents[2] / "rollout_plans" / "dev-3-states.yaml"


@pytest.fixture(scope="module")
def quick_plan():
    plan = load_plan(DEV)
    return plan.model_copy(update={"latency": LatencySim(duration_s=4.0, warmup_s=1.0, replications=2)})


def _square(x: int) -> int:
    return x * x


def test_process_pool_keeps_job_order() -> None:
    ticks = []
    assert run_jobs(_square, [(i,) for i in range(6)], workers=2, on_done=lambda: ticks.append(1)) == [
        0,
        1,
        4,
        9,
        16,
        25,
    ]
    assert len(ticks) == 6


def test_dask_cluster_gives_the_seeded_inline_result(quick_plan) -> None:
    from distributed import LocalCluster

    inline = run_latency(quick_plan, [2], workers=1)
    with LocalCluster(
        n_workers=1,
        processes=False,
        threads_per_worker=1,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        on_dask = run_latency(quick_plan, [2], scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(inline.records, on_dask.records)
    assert on_dask.simulated_messages == inline.simulated_messages > 0


def test_unreachable_scheduler_is_a_clear_error() -> None:
    with pytest.raises(SimError, match="Dask scheduler"):
        _on_dask(_square, [(1,)], "tcp://127.0.0.1:9", lambda: None, connect_timeout_s=1.0)


def test_predict_p95_rises_with_load(quick_plan) -> None:
    # Same pods (sized for the load), same seeds: more load per pod can only wait longer.
    low = predict_p95(quick_plan, 2000.0, replications=3, workers=1)
    high = predict_p95(
        quick_plan.model_copy(
            update={"capacity": quick_plan.capacity.model_copy(update={"messages_per_s_per_pod": 2000.0})}
        ),
        2000.0,
        replications=3,
        workers=1,
    )
    assert low.ci_low_ms <= low.p95_ms <= low.ci_high_ms
    assert high.p95_ms > low.p95_ms


def test_sweep_runs_every_load_in_one_batch(quick_plan) -> None:
    from sim.latency import sweep_loads

    table = sweep_loads(quick_plan, [500.0, 4000.0], replications=2, workers=2)
    assert list(table["load_msgs_per_s"]) == [500.0, 4000.0]
    assert table["pods"].iloc[1] > table["pods"].iloc[0]
    assert (table["p95_ci_low_ms"] <= table["p95_ms"]).all() and (
        table["p95_ms"] <= table["p95_ci_high_ms"]
    ).all()
