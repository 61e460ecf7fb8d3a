"""Simulation commands: ``msgfleet sim plan|rollout|latency``."""

import typer

app = typer.Typer(no_args_is_help=True)


@app.command()
def rollout(plan: str = typer.Option(...), out: str = typer.Option(...)) -> None:
    """Simulate the rollout of a plan."""
    raise typer.Exit(1)
