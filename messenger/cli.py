"""Node commands: ``msgfleet serve``."""

import typer

app = typer.Typer()


@app.command()
def serve(state: str = typer.Option(..., help="ISO 3166-2 id of the state this node serves.")) -> None:
    """Run a messenger node for one state."""
    raise typer.Exit(1)
