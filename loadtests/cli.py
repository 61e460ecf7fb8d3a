"""``msgfleet loadtest``, ``msgfleet calibrate`` and ``msgfleet fleet up|down``.

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
calibrate_app = typer.Typer()
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


def fleet_table(fleet: Fleet) -> Table:
    """A rich table of the fleet's nodes: state, URL, database, pid."""
    from rich.table import Table

    table = Table(title=f"msgfleet fleet ({fleet.data_dir})")
    for column in ("state", "URL", "database", "pid"):
        table.add_column(column)
    for node in fleet.nodes:
        table.add_row(node.state, node.url, node.database, str(node.pid))
    return table


@app.command()
def loadtest(plan: str = typer.Option(...), out: str = typer.Option(...)) -> None:
    """Run Locust against a fleet."""
    raise typer.Exit(1)


@calibrate_app.command()
def calibrate(directory: str, plan: str = typer.Option(...), out: str = typer.Option(...)) -> None:
    """Write a calibrated plan from a load-test result directory."""
    raise typer.Exit(1)
