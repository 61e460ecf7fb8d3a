"""``msgfleet infra render``."""

import typer

app = typer.Typer(no_args_is_help=True)


@app.command()
def render(stack: str = typer.Option("dev"), out: str = typer.Option(...)) -> None:
    """Render the Pulumi program's manifests offline."""
    raise typer.Exit(1)
