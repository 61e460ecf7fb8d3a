"""``msgfleet loadtest``, ``msgfleet calibrate`` and ``msgfleet fleet up|down``."""

import typer

app = typer.Typer()
calibrate_app = typer.Typer()
fleet_app = typer.Typer(no_args_is_help=True)


@app.command()
def loadtest(plan: str = typer.Option(...), out: str = typer.Option(...)) -> None:
    """Run Locust against a fleet."""
    raise typer.Exit(1)


@calibrate_app.command()
def calibrate(directory: str, plan: str = typer.Option(...), out: str = typer.Option(...)) -> None:
    """Write a calibrated plan from a load-test result directory."""
    raise typer.Exit(1)


@fleet_app.command()
def up(plan: str = typer.Option(...), data_dir: str = typer.Option(...)) -> None:
    """Start one node per state of a plan phase."""
    raise typer.Exit(1)


@fleet_app.command()
def down(data_dir: str = typer.Option(...)) -> None:
    """Stop a fleet started in the background."""
    raise typer.Exit(1)
