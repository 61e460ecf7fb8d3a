"""``msgfleet infra render``: run the Pulumi program under mocks and write checked manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.command()
def render(
    out: Annotated[Path, typer.Option(help="Output folder: one sub-folder of YAML manifests per site.")],
    stack: Annotated[str, typer.Option(help="Stack name: reads Pulumi.<stack>.yaml.")] = "dev",
    plan: Annotated[Path | None, typer.Option(help="Override the stack's msgfleet:plan.")] = None,
    phase: Annotated[int | None, typer.Option(help="Override the stack's msgfleet:phase.")] = None,
    image: Annotated[str | None, typer.Option(help="Override the stack's msgfleet:image.")] = None,
) -> None:
    """Render every resource's manifest offline; fail if one fails the schema or a policy."""
    from dataclasses import replace

    from rich.console import Console

    from infra.render import render_to
    from infra.report import summary_table
    from infra.stack import load_stack_file

    config = load_stack_file(stack)
    if plan is not None:
        config = replace(config, plan_path=plan.resolve())
    if phase is not None:
        config = replace(config, phase=phase)
    if image is not None:
        config = replace(config, image=image)
    rendering = render_to(config, out)
    Console().print(summary_table(rendering))
    typer.echo(f"wrote {len(rendering.manifests)} manifests to {out}")
