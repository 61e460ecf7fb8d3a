"""``msgfleet loadtest`` and ``msgfleet fleet up|down|restart`` (``msgfleet calibrate`` is in
msgfleet.calibration, which may import sim).

Commands parse arguments, call library code and print; heavy imports happen inside them so that
``msgfleet --help`` stays fast. Locust itself is never imported here (it monkey-patches the
process with gevent): it runs in a ``python -m loadtests.runner`` subprocess.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from loadtests.fleet import Fleet

app = typer.Typer()
fleet_app = typer.Typer(no_args_is_help=True)

PLAN_HELP = "Rollout plan YAML (rollout_plans/...)."
DB_HELP = "PostgreSQL server URL; each state gets its own database msgfleet_<state> there (else SQLite)."
PHASE_HELP = "Phase whose live states get a node (1-based; states of earlier phases included)."


@fleet_app.command()
def up(
    plan: Annotated[Path, typer.Option(help=PLAN_HELP)],
    data_dir: Annotated[Path, typer.Option(help="Fleet directory: a data directory per state, fleet.json.")],
    phase: Annotated[int, typer.Option(help=PHASE_HELP)] = 1,
    database_url: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
    background: Annotated[bool, typer.Option(help="Return once ready; stop with `fleet down`.")] = False,
) -> None:
    """Start one node per state of a plan phase on loopback and wait until every node is ready."""
    import signal

    from rich.console import Console

    from loadtests.fleet import Fleet
    from loadtests.plan import phase_states

    states = phase_states(plan, phase)
    fleet = Fleet(states, data_dir, database_url=database_url)
    fleet.start()
    console = Console()
    console.print(fleet_table(fleet))
    if background:
        fleet.detach()
        console.print(f"fleet runs in the background; stop it: msgfleet fleet down --data-dir {data_dir}")
        return
    console.print("fleet running; Ctrl-C stops it")

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        fleet.wait()
    except KeyboardInterrupt:
        pass
    finally:
        fleet.stop()
        console.print("fleet stopped")


@fleet_app.command()
def down(data_dir: Annotated[Path, typer.Option(help="The directory given to `fleet up`.")]) -> None:
    """Stop a fleet started with ``fleet up --background``."""
    from loadtests.fleet import stop_fleet

    nodes = stop_fleet(data_dir)
    typer.echo(f"stopped {len(nodes)} node(s): {', '.join(n.state for n in nodes)}")


@fleet_app.command()
def restart(
    state: Annotated[str, typer.Argument(help="The state whose node to restart, e.g. RU-MOW.")],
    data_dir: Annotated[Path, typer.Option(help="The directory given to `fleet up`.")],
) -> None:
    """Restart one node of a fleet started with ``fleet up --background`` (stopped first if it still
    runs), as it was started; fleet.json records its new pid, so ``fleet down`` stops it."""
    from loadtests.fleet import restart_node

    node = restart_node(data_dir, state)
    typer.echo(f"restarted {node.state} at {node.url} (pid {node.pid})")


def fleet_table(fleet: Fleet) -> Table:
    """A rich table of the fleet's nodes: state, URL, database, pid."""
    from rich.table import Table

    table = Table(title=f"msgfleet fleet ({fleet.data_dir})")
    for column in ("state", "URL", "database", "pid"):
        table.add_column(column)
    for node in fleet.nodes:
        table.add_row(node.state, node.url, node.database, str(node.pid))
    return table


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``2m``, ``1h`` → seconds."""
    from loadtests.errors import LoadTestError

    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise LoadTestError(f"--duration {text!r}: expected e.g. 60s, 2m, 90") from None
    if seconds <= 0:
        raise LoadTestError(f"--duration {text!r} must be positive")
    return seconds


@app.command()
def loadtest(
    out: Annotated[Path, typer.Option(help="Result directory (Locust CSV/HTML, summary.json).")],
    plan: Annotated[Path | None, typer.Option(help=PLAN_HELP)] = None,
    phase: Annotated[int, typer.Option(help=PHASE_HELP)] = 1,
    users: Annotated[int, typer.Option(help="Simulated users (one device each).")] = 20,
    spawn_rate: Annotated[float, typer.Option(help="Users started per second.")] = 10.0,
    duration: Annotated[str, typer.Option(help="Time per load level: 60s, 2m.")] = "60s",
    levels: Annotated[str | None, typer.Option(help="User counts run in turn, e.g. 10,20,40.")] = None,
    find_knee: Annotated[
        bool, typer.Option(help="Step users up until the SLO breaks (plan.loadtest.knee).")
    ] = False,
    target: Annotated[
        list[str] | None, typer.Option(help="STATE=URL or URL of a running node (repeat).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Locust worker processes (master/worker mode); 0: none.")] = 0,
    database_url: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
) -> None:
    """Run Locust against the plan's local fleet (or --target nodes); write CSV, HTML and summary.json."""
    from loadtests.config import parse_targets
    from loadtests.errors import LoadTestError
    from loadtests.run import run_loadtest

    try:
        level_list = [int(x) for x in levels.split(",")] if levels else None
    except ValueError:
        raise LoadTestError(f"--levels {levels!r}: expected user counts like 10,20,40") from None
    summary = run_loadtest(
        out,
        plan=str(plan) if plan else None,
        phase=phase,
        targets=parse_targets(target or []),
        users=users,
        spawn_rate=spawn_rate,
        duration_s=parse_duration(duration),
        levels=level_list,
        find_knee=find_knee,
        workers=workers,
        database_url=database_url,
    )
    print_summary(summary)


def print_summary(summary: dict) -> None:
    """The headline figures of a run as a rich table."""
    from rich.console import Console
    from rich.table import Table

    title = f"load test: {summary['users']} users, {summary['duration_s']} s, {summary['nodes']} node(s)"
    table = Table(title=title)
    for column in ("request", "count", "fail", "req/s", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "request" else "right")
    for row in summary["per_request"]:
        table.add_row(
            f"{row['type']} {row['name']}",
            str(row["requests"]),
            str(row["failures"]),
            f"{row['requests_per_s'] or 0:.1f}",
            *(f"{row[k]:.0f}" if row[k] is not None else "-" for k in ("p50_ms", "p95_ms", "p99_ms")),
        )
    console = Console()
    console.print(table)
    server = summary["server"]["total"]
    shown = {k: "not metered" if v is None else f"{v:.1f}" for k, v in server.items()}
    console.print(
        f"client: {summary['http_requests']} HTTP requests ({summary['http_requests_per_s']:.1f}/s), "
        f"{summary['socket_events']} socket events, {summary['message_deliveries']} message deliveries"
    )
    console.print(
        f"server: {shown['messages_stored']} messages stored, {shown['replies_stored']} replies, "
        f"{shown['call_seconds']} call seconds metered, {shown['cpu_seconds']} node CPU s"
    )
    affinity = summary["cpu_affinity"]
    if affinity["pinned"]:
        console.print(f"CPUs: nodes on {affinity['nodes']}, load generator on {affinity['load_generator']}")
    if knee := summary.get("knee"):
        console.print(
            f"knee: {knee['supported_users']} users, {knee['messages_per_s_at_slo']:.1f} messages/s at SLO "
            f"(delivery p95 {knee['delivery_p95_ms_at_slo']} ms; converged: {knee['converged']})"
        )
