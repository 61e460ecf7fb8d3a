"""The demo's economics and warning lines: an unrecovered cost is printed loudly."""

from rich.console import Console

from msgfleet.schema import load_plan
from sim.demo import DEV_PLAN, print_economics, print_warnings
from sim.rollout import run_rollout


def test_unrecovered_cost_is_a_red_line_and_a_warning() -> None:
    plan = load_plan(DEV_PLAN)
    free = plan.tariffs.model_copy(
        update={"free_messages_per_user_month": 1e9, "free_minutes_per_user_month": 1e9}
    )
    result = run_rollout(plan.model_copy(update={"tariffs": free}))
    console = Console(record=True, width=400)
    print_economics(console, result)
    print_warnings(console, result.warnings())
    text = console.export_text(clear=False)
    assert "cost NOT recovered by day" in text
    assert "WARNING cost not recovered within the 5-year recovery horizon" in text
    styled = console.export_text(styles=True)
    assert "\x1b[1;31m" in styled  # bold red
