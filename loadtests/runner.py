"""``python -m loadtests.runner RUN.json``: Locust as a library, headless, in a process of its own.

Importing Locust monkey-patches the process with gevent, so msgfleet's CLI and pytest never do:
they write ``run.json`` (:class:`loadtests.config.RunConfig`) and start this module. It writes into
the run directory Locust's CSVs (``locust_stats.csv``, ``locust_stats_history.csv``, ...), its HTML
report (``report.html``), ``steps.csv`` (one row per load step and request) and ``knee.json``.
With ``workers > 0`` it is Locust's master and starts that many local workers
(``python -m loadtests.runner RUN.json --worker --master-port P``); docs/LOADTESTS.md shows how
to start workers on other machines instead.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import gevent
from locust import events
from locust.env import Environment
from locust.html import get_html_report
from locust.runners import MasterRunner, Runner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter, stats_history

from loadtests.config import CONFIG_ENV, RunConfig
from loadtests.fleet import free_port
from loadtests.knee import KneeFinder, judge_window, time_bound_s
from loadtests.schedule import LevelSchedule
from loadtests.shapes import PlannedShape
from loadtests.stats import DELIVERY, Window
from msgfleet.schema import SLO, KneeSearch, load_plan

PROGRESS_EVERY_S = 2.0
WORKER_WAIT_S = 60.0


def make_planner(config: RunConfig) -> KneeFinder | LevelSchedule:
    if config.find_knee:
        plan = load_plan(config.plan) if config.plan else None
        return KneeFinder(plan.loadtest.knee if plan else KneeSearch(), plan.slo if plan else SLO())
    return LevelSchedule.for_duration(config.levels, config.spawn_rate, config.duration_s)


def run_slo(config: RunConfig) -> SLO:
    return load_plan(config.plan).slo if config.plan else SLO()


def time_limit_s(config: RunConfig, planner: KneeFinder | LevelSchedule) -> float:
    """A hard bound on the run: every step's time plus a minute of slack."""
    if isinstance(planner, KneeFinder):
        return time_bound_s(planner.search) + 60
    return len(config.levels) * (config.duration_s + 2) + 60


def _progress(runner: Runner, started: float) -> None:
    """The live progress line, every few seconds."""
    stats = runner.stats
    while True:
        gevent.sleep(PROGRESS_EVERY_S)
        total = stats.total
        deliver = stats.entries.get((DELIVERY[1], DELIVERY[0]))
        p95 = deliver.get_current_response_time_percentile(0.95) if deliver else None
        fails = total.num_failures / total.num_requests if total.num_requests else 0.0
        line = (
            f"[{time.monotonic() - started:6.0f}s] users {runner.user_count:5d}  "
            f"req/s {total.current_rps:8.1f}  fail {fails:6.2%}  deliver p95 {p95 or 0:6.0f} ms"
        )
        print(line, flush=True)


def write_steps(path: Path, windows: list[Window], slo: SLO) -> None:
    """``steps.csv``: one row per measured step and request key (plus all message sends merged), each
    with its step's verdict (loadtests.knee.verdict: pass, fail or insufficient)."""
    rows = []
    for index, window in enumerate(windows, start=1):
        outcome, _ = judge_window(window, slo)
        for row in window.rows() + window.merged_messages_row():
            rows.append({"step": index, **row, "verdict": outcome})
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["step", *Window.ROW_FIELDS, "verdict"])
        writer.writeheader()
        writer.writerows(rows)


def _start_workers(config: RunConfig, run_file: Path, port: int) -> list[subprocess.Popen[bytes]]:
    args = [sys.executable, "-m", "loadtests.runner", str(run_file), "--worker", "--master-port", str(port)]
    log = (Path(config.out_dir) / "workers.log").open("ab")
    procs = [subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT) for _ in range(config.workers)]
    log.close()
    return procs


def run_master(run_file: Path) -> int:
    config = RunConfig.read(run_file)
    if config.generator_cpus:  # before the workers start: they inherit it
        os.sched_setaffinity(0, config.generator_cpus)
    out = Path(config.out_dir)
    from loadtests import locustfile

    planner = make_planner(config)
    env = Environment(
        user_classes=locustfile.user_classes(),
        shape_class=PlannedShape(planner, list(config.node_pids.values())),
        events=events,
        host=next(iter(config.targets.values())),
    )
    workers: list[subprocess.Popen[bytes]] = []
    master: MasterRunner | None = None
    runner: Runner
    if config.workers:
        port = free_port()
        runner = master = env.create_master_runner("127.0.0.1", port)
        workers = _start_workers(config, run_file, port)
    else:
        runner = env.create_local_runner()
    events.init.fire(environment=env, runner=runner, web_ui=None)
    if locustfile.SCENARIO is None:
        print("loadtest: the locustfile could not configure itself (see the error above)", file=sys.stderr)
        return 1
    writer = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, str(out / "locust"), full_history=True)
    greenlets = [gevent.spawn(stats_history, runner), gevent.spawn(writer.stats_writer)]
    try:
        if master is not None:
            deadline = time.monotonic() + WORKER_WAIT_S
            while len(master.clients.ready) < config.workers:
                if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                    print(f"loadtest: workers did not connect (see {out / 'workers.log'})", file=sys.stderr)
                    return 1
                time.sleep(0.5)
        started = time.monotonic()
        greenlets.append(gevent.spawn(_progress, runner, started))
        runner.start_shape()
        shape = runner.shape_greenlet
        assert shape is not None
        shape.join(timeout=time_limit_s(config, planner))
        timed_out = not shape.dead
    finally:
        runner.quit()
        gevent.sleep(1.5)  # let the CSV writer write the final figures once more
        gevent.killall(greenlets)
        writer.close_files()
        for worker in workers:
            worker.wait(timeout=30)
    events.quitting.fire(environment=env, reverse=True)
    (out / "report.html").write_text(get_html_report(env, show_download_link=False), encoding="utf-8")
    write_steps(out / "steps.csv", planner.windows, run_slo(config))
    knee = planner.result()
    (out / "knee.json").write_text(json.dumps(knee, indent=2) + "\n")
    if timed_out:
        limit = time_limit_s(config, planner)
        print(f"loadtest: stopped at the time limit of {limit:.0f} s", file=sys.stderr)
    return 0


def run_worker(run_file: Path, master_port: int) -> int:
    config = RunConfig.read(run_file)
    if config.generator_cpus:
        os.sched_setaffinity(0, config.generator_cpus)
    from loadtests import locustfile

    host = next(iter(config.targets.values()))
    env = Environment(user_classes=locustfile.user_classes(), events=events, host=host)
    locustfile.configure(env)  # before connecting: the master may send users at once
    runner = env.create_worker_runner("127.0.0.1", master_port)
    events.init.fire(environment=env, runner=runner, web_ui=None)
    assert runner.greenlet is not None
    runner.greenlet.join()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.runner", description=__doc__)
    parser.add_argument("run_file", type=Path)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--master-port", type=int, default=5557)
    args = parser.parse_args(argv)
    os.environ[CONFIG_ENV] = str(args.run_file.resolve())
    if args.worker:
        return run_worker(args.run_file, args.master_port)
    return run_master(args.run_file)


if __name__ == "__main__":
    sys.exit(main())
