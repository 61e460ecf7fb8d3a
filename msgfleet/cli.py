"""The ``msgfleet`` command line: the composition root that wires each package's commands.

Each package owns its commands in ``<package>/cli.py`` (a typer app whose heavy imports happen
inside the commands); this module only mounts them and turns user errors into one line.
"""

from __future__ import annotations

import sys

import typer

from charts.cli import app as charts_app
from infra.cli import app as infra_app
from loadtests.cli import app as loadtest_app
from loadtests.cli import fleet_app
from messenger.cli import app as messenger_app
from messenger.client.cli import app as client_app
from msgfleet.calibration import calibrate_app
from msgfleet.errors import MsgfleetError
from sim.cli import app as sim_app

app = typer.Typer(
    help="Plan, provision and size a national messenger across many states.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(messenger_app, name=None)  # serve, audit
app.add_typer(client_app, name="client", help="The messenger client (also the msgfleet-client command).")
app.add_typer(fleet_app, name="fleet", help="Start and stop a local multi-state fleet.")
app.add_typer(sim_app, name="sim", help="Rollout and latency simulation.")
app.add_typer(charts_app, name=None)  # charts
app.add_typer(loadtest_app, name=None)  # loadtest
app.add_typer(calibrate_app, name=None)  # calibrate
app.add_typer(infra_app, name="infra", help="Render and check the Pulumi program offline.")


def _user_errors() -> tuple[type[BaseException], ...]:
    from messenger.errors import MessengerConfigError

    return (MsgfleetError, MessengerConfigError)


def main() -> None:
    """Entry point: run the app; a user error prints one line and exits 2."""
    try:
        app(standalone_mode=True)
    except _user_errors() as exc:
        print(f"msgfleet: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
