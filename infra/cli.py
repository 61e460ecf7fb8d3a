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
    console = Console()
    console.print(summary_table(rendering))
    if rendering.outputs["unsized"]:
        console.print(f"[bold red]WARNING:[/bold red] {rendering.outputs['sizing_warning']}")
    typer.echo(f"wrote {len(rendering.manifests)} manifests to {out}")


@app.command()
def diff(
    from_phase: Annotated[int, typer.Option(help="The phase the stack is at.")],
    to_phase: Annotated[int, typer.Option(help="The phase to move it to.")],
    stack: Annotated[str, typer.Option(help="Stack name: reads Pulumi.<stack>.yaml.")] = "dev",
    details: Annotated[
        bool, typer.Option(help="List every change, not only replacements and deletions.")
    ] = False,
) -> None:
    """What moving a stack from one phase to another creates, updates, replaces and deletes, per
    state (offline, under Pulumi mocks): read it before ``pulumi up``."""
    from rich.console import Console

    from infra.diff import diff_phases
    from infra.report import diff_table
    from infra.stack import load_stack_file

    changes = diff_phases(load_stack_file(stack), from_phase, to_phase)
    console = Console()
    console.print(diff_table(changes, f"stack {stack}: phase {from_phase} -> {to_phase}"))
    for change in changes:
        if details or change.action in ("replace", "delete", "retain"):
            fields = f" ({', '.join(change.fields)})" if change.fields else ""
            refused = "  PROTECTED: pulumi up refuses this" if change.protected else ""
            typer.echo(f"{change.action:8} {change.state:8} {change.target}{fields}{refused}")
