"""The infra stage of ``make demo``: render phase 1 of the dev plan offline and print the checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.console import Console

from infra.render import Rendering, render_to
from infra.report import summary_table
from infra.stack import load_stack_file


def stage_infra(console: Console, workdir: Path, plan_path: Path | None = None) -> Rendering:
    """Render the ``dev`` stack at phase 1 into ``workdir/infra`` (no cluster, no Pulumi CLI).

    ``plan_path`` replaces the stack's plan, e.g. with a calibrated, simulator-sized plan.
    """
    stack = replace(load_stack_file("dev"), phase=1)
    if plan_path is not None:
        stack = replace(stack, plan_path=Path(plan_path))
    out = Path(workdir) / "infra"
    console.rule("infra: offline render of the dev stack, phase 1 (Pulumi mocks)")
    rendering = render_to(stack, out)
    console.print(summary_table(rendering))
    console.print(
        f"{len(rendering.manifests)} manifests in {out}/<STATE>/ (kubectl apply -f), stack outputs in "
        f"{out / 'outputs.json'}; every manifest schema-checked for Kubernetes "
        f"{rendering.plan.infra.kubernetes_version} and passed all policies."
    )
    return rendering
