"""A rich table summarising a rendering: per site, its resources and their checks."""

from __future__ import annotations

from rich.table import Table

from infra.policy import POLICIES
from infra.render import Rendering


def summary_table(rendering: Rendering) -> Table:
    plan, stack = rendering.plan, rendering.stack
    k8s = plan.infra.kubernetes_version
    title = f"stack {stack.stack}: plan {plan.name}, phase {stack.phase}, Kubernetes {k8s}"
    table = Table(title=title)
    for column in ("site", "role", "manifests", "node pods", "TURN", "schema ok", "CRDs", "policies"):
        table.add_column(column)
    failed = {v.target for v in rendering.violations}
    sites = rendering.outputs.get("sites", {})
    reserved = rendering.outputs.get("reserved", {})
    for state, items in sorted(rendering.by_state().items()):
        checks = [rendering.schema[item.path] for item in items]
        valid = sum(1 for c in checks if c.ok and not c.skipped)
        skipped = sum(1 for c in checks if c.skipped)
        bad = sum(1 for item in items if item.ident in failed)
        if state in sites:
            role, pods, turn = "live", str(sites[state]["node_pods"]), str(sites[state]["turn_relays"])
        else:
            held = reserved.get(state, {})
            role, pods, turn = (
                f"reserve p{held.get('phase')}",
                f"{held.get('pods')} held",
                "-",
            )
        policies = f"{len(POLICIES)}/{len(POLICIES)} ok" if not bad else f"{bad} fail"
        table.add_row(
            state, role, str(len(items)), pods, turn, f"{valid}/{len(items)}", str(skipped), policies
        )
    return table
