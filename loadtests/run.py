"""One load test, end to end: fleet (or given targets) → Locust process → summary.json.

Called by ``msgfleet loadtest``, the tests and the demo. Locust runs in
``python -m loadtests.runner`` (never imported here); this process starts the fleet, scrapes the
nodes' counters before and after, and writes ``summary.json``.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loadtests.config import RunConfig
from loadtests.errors import LoadTestError
from loadtests.fleet import Fleet
from loadtests.knee import time_bound_s
from loadtests.metrics import SERVER_COUNTERS, Scrape, scrape_all
from loadtests.nodecpu import cpu_seconds, pin, split_cpus
from loadtests.oidc_provider import OIDC_CLIENT, OIDC_PROVIDER, LocalProvider
from loadtests.plan import phase_states
from loadtests.summary import build_summary, write_summary
from msgfleet.schema import KneeSearch, load_plan

# Node settings a load test needs: codes readable through the dev SMS endpoint, and no per-IP or
# per-phone code rate limit (every simulated user signs up from 127.0.0.1).
LOADTEST_NODE_ENV = {
    "MSGFLEET_DEV_SMS_ENDPOINT": "true",
    "MSGFLEET_CODE_RATE_PER_IP": "0",
    "MSGFLEET_CODE_RATE_PER_PHONE": "0",
}
CPU = SERVER_COUNTERS["cpu_seconds"]


def _scrape(targets: dict[str, str], pids: dict[str, int]) -> dict[str, Scrape]:
    scrapes = scrape_all(targets)
    for state, pid in pids.items():  # the local fleet: measured from the OS, not the node's word
        scrapes[state][CPU] = cpu_seconds(pid)
    return scrapes


@contextlib.contextmanager
def fleet_or_targets(
    plan_path: str | None,
    phase: int,
    targets: dict[str, str],
    out: Path,
    database_url: str | None,
    node_args: list[str] | None = None,
) -> Iterator[tuple[dict[str, str], dict[str, int], dict[str, str]]]:
    """Yield ``(targets, pids, sms files)``: the given targets, or a fleet started for the plan."""
    if targets:
        yield targets, {}, {}
        return
    if plan_path is None:
        raise LoadTestError("give --plan (a fleet is started for it) or --target URL")
    states = phase_states(plan_path, phase)
    with contextlib.ExitStack() as stack:
        env = dict(LOADTEST_NODE_ENV)
        if load_plan(plan_path).loadtest.oidc_signin_share > 0:
            env.update(stack.enter_context(local_identity_provider(out, states)))
        fleet = stack.enter_context(
            Fleet(states, out / "fleet", database_url=database_url, env=env, extra_args=node_args or [])
        )
        pids = {n.state: n.pid for n in fleet.nodes}
        sms = {n.state: str(Path(n.data_dir) / "sms.jsonl") for n in fleet.nodes}
        yield fleet.urls, pids, sms


@contextlib.contextmanager
def local_identity_provider(out: Path, states: list[str]) -> Iterator[dict[str, str]]:
    """The local OpenID provider for a run whose mix signs users in by identity provider: started, its
    client secret put in each node's (development) key store, and the node settings that name it."""
    secret = secrets.token_urlsafe(32)
    try:
        provider = LocalProvider(out / "oidc-provider", [{"client_id": OIDC_CLIENT, "client_secret": secret}])
    except RuntimeError as exc:
        raise LoadTestError(str(exc)) from None
    try:
        for state in states:  # the fleet's nodes keep the development key layout: <fleet>/<state>/keys
            keys = out / "fleet" / state / "keys"
            keys.mkdir(parents=True, exist_ok=True)
            (keys / f"oidc-{OIDC_PROVIDER}.secret").write_text(secret)
        entry = provider.node_provider(OIDC_PROVIDER, OIDC_CLIENT, keep_claims=["phone_number_verified"])
        yield {"MSGFLEET_OIDC_PROVIDERS": json.dumps([entry])}
    finally:
        provider.stop()


def run_loadtest(
    out: str | Path,
    *,
    plan: str | None = None,
    phase: int = 1,
    targets: dict[str, str] | None = None,
    users: int = 10,
    spawn_rate: float = 10.0,
    duration_s: float = 30.0,
    levels: list[int] | None = None,
    find_knee: bool = False,
    workers: int = 0,
    database_url: str | None = None,
    node_args: list[str] | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Run one load test and return its summary (also written to ``out/summary.json``)."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if plan is not None:
        load_plan(plan)  # fail on a bad plan before starting anything
    with fleet_or_targets(plan, phase, targets or {}, out, database_url, node_args) as (urls, pids, sms):
        split = split_cpus() if pids else None  # only nodes this process started can be pinned
        if split:
            pin(pids.values(), split[0])
        config = RunConfig(
            out_dir=str(out),
            targets=urls,
            plan=str(Path(plan).resolve()) if plan else None,
            phase=phase,
            users=users,
            spawn_rate=spawn_rate,
            duration_s=duration_s,
            levels=levels or [],
            find_knee=find_knee,
            workers=workers,
            nodes=len(urls),
            sms_files=sms,
            node_pids=pids,
            node_cpus=split[0] if split else [],
            generator_cpus=split[1] if split else [],
        )
        run_file = config.write()
        before = _scrape(urls, pids)
        done = subprocess.run(
            [sys.executable, "-m", "loadtests.runner", str(run_file)],
            stdout=subprocess.DEVNULL if quiet else None,
            timeout=_bound_s(config),
        )
        if done.returncode != 0:
            raise LoadTestError(f"the Locust process failed with exit code {done.returncode} (see {out})")
        after = _scrape(urls, pids)
    summary = build_summary(out, config, before, after)
    write_summary(out, summary)
    return summary


def _bound_s(config: RunConfig) -> float:
    """Wall-clock bound of the Locust process (its own limit plus start-up and report time)."""
    if config.find_knee:
        return time_bound_s(load_plan(config.plan).loadtest.knee if config.plan else KneeSearch()) + 240
    return len(config.levels) * (config.duration_s + 2) + 240
