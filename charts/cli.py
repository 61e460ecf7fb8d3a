"""``msgfleet charts DIR``: draw whatever results DIR holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer()


@app.command()
def charts(
    directory: Annotated[Path, typer.Argument(help="Results directory (sim outputs, later load tests).")],
    format: Annotated[str, typer.Option("--format", help="png or svg.")] = "png",
    out: Annotated[Path | None, typer.Option(help="Write the charts here (default: DIR).")] = None,
) -> None:
    """Draw the charts of a results directory (PNG, or SVG with --format svg)."""
    from rich.console import Console

    from charts.render import render

    for path in render(directory, format, out):
        Console().print(f"wrote {path}")
