"""The plan's cost totals leave out a changed agent whose monthly cost is unknown (its
suite does not load at head, no declared volume); they say so instead of "no change"."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.plan.model import Cost, CostRow
from reconciler.plan.render_common import cost_change
from tests.cli import run
from tests.gitrepo import GitRepo


def _row(agent: str, base: float | None, head: float | None) -> CostRow:
    delta = None if base is None or head is None else head - base
    return CostRow(
        agent=agent, model_base="openai/gpt-4.1-mini", model_head="openai/gpt-4.1-mini",
        per_task_base=None, per_task_head=None, tasks_per_month=1000,
        monthly_base=base, monthly_head=head, delta_monthly=delta,
    )  # fmt: skip


def test_totals_count_the_agents_they_leave_out() -> None:
    known = _row("a", 100.0, 110.0)
    both = Cost(rows=[known], total_monthly_base=100, total_monthly_head=110, price_source="x")
    assert cost_change(both) == "+$10.00/month (+10.0%)"
    gap = both.model_copy(update={"rows": [known, _row("b", 50.0, None)]})
    assert cost_change(gap) == "+$10.00/month (+10.0%; 1 agent not costed)"
    assert cost_change(gap, monthly=True) == (
        "$100.00 → $110.00 (Δ +$10.00, +10.0%; 1 agent not costed)"
    )
    none = Cost(rows=[_row("b", 50.0, None)], price_source="x")
    assert cost_change(none) == "not known (1 agent not costed)"
    assert cost_change(none, monthly=True) == "not known (1 agent not costed)"


def test_a_head_that_cannot_be_evaluated_is_not_costed_as_no_change(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    suite = "evals/email-drafting/drafts.yaml"
    fleet_repo.write(suite, fleet_repo.read(suite) + "cases: []\n")  # a duplicate key
    fleet_repo.commit("email-drafting: a suite that does not load")
    md, html = tmp_path / "r.md", tmp_path / "r.html"
    code, out, _ = run(
        capsys, "-C", str(fleet_repo.path), "plan", "--base", "HEAD~1", "--head", "HEAD",
        "--out", str(md), "--html", str(html),
    )  # fmt: skip
    assert code == 1
    assert "cost not known (1 agent not costed)" in out.splitlines()[2]
    assert "no change" not in out.splitlines()[2]
    assert "**Total monthly**: not known (1 agent not costed)" in md.read_text("utf-8")
    assert "Total monthly</strong>: not known (1 agent not costed)" in html.read_text("utf-8")
