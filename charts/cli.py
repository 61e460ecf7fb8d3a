"""``msgfleet charts DIR``."""

import typer

app = typer.Typer()


@app.command()
def charts(directory: str) -> None:
    """Draw the charts of a results directory."""
    raise typer.Exit(1)
