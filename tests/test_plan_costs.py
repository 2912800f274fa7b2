"""The plan's cost section: rows per changed agent, monthly at declared volume, breaches."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.evals.results import Results, RunInfo, agent_result, build
from reconciler.evals.run import plan_jobs, run_evals
from reconciler.plan.costs import cost_section, installed_prices_version
from reconciler.spec.loader import load_ref, load_worktree
from reconciler.spec.state import DesiredState
from tests.evalrecords import trial
from tests.gitrepo import GitRepo

AGENT = "support-triage"  # 120,000 tasks a month, openai/gpt-4.1-mini, tier customer-facing
AGENT_FILE = f"agents/{AGENT}/agent.yaml"
SOURCE = f"genai-prices {installed_prices_version()}"


def results(state: DesiredState, costs: dict[str, float]) -> Results:
    """Results with two graded trials per agent, each costing what `costs` says."""
    cases = [
        trial(f"case-{i}", agent=name, cost=cost) for name, cost in costs.items() for i in (1, 2)
    ]
    scored = []
    for name in costs:
        spec = state.agent(name)
        assert spec is not None
        scored.append(agent_result(spec.agent, [c for c in cases if c.agent == name]))
    return build(RunInfo(), scored, cases)


def change(repo: GitRepo, old: str, new: str, rel: str = AGENT_FILE) -> DesiredState:
    repo.replace(rel, old, new)
    repo.commit(f"{rel}: {old} -> {new}")
    return load_ref(repo.path, "HEAD")


def test_a_cheaper_model_lowers_the_monthly_figure(fleet_repo: GitRepo) -> None:
    base = load_ref(fleet_repo.path, "HEAD")
    head = change(fleet_repo, "name: gpt-4.1-mini", "name: gpt-4.1-nano")
    cost = cost_section(
        base, head, results(base, {AGENT: 0.004}), results(head, {AGENT: 0.001}), [AGENT]
    )
    (row,) = cost.rows
    assert (row.agent, row.model_base, row.model_head) == (
        AGENT,
        "openai/gpt-4.1-mini",
        "openai/gpt-4.1-nano",
    )
    assert (row.per_task_base, row.per_task_head, row.tasks_per_month) == (0.004, 0.001, 120_000)
    assert (row.monthly_base, row.monthly_head, row.delta_monthly) == (480.0, 120.0, -360.0)
    assert (cost.total_monthly_base, cost.total_monthly_head) == (480.0, 120.0)
    assert cost.breaches == []
    assert cost.eval_run_cost_usd == pytest.approx(2 * 0.004 + 2 * 0.001)
    assert cost.price_source == SOURCE


def test_a_rise_beyond_the_policy_limit_is_a_breach(fleet_repo: GitRepo) -> None:
    base = load_ref(fleet_repo.path, "HEAD")
    head = change(fleet_repo, "name: gpt-4.1-mini", "name: gpt-4.1")
    # policies/cost.yaml: +250 USD a month or +200%, for every agent
    cost = cost_section(
        base, head, results(base, {AGENT: 0.0031}), results(head, {AGENT: 0.0062}), [AGENT]
    )
    (row,) = cost.rows
    assert row.delta_monthly == pytest.approx(372.0)
    (breach,) = cost.breaches
    assert (breach.agent, breach.policy) == (AGENT, "cost")
    assert breach.text == (
        "support-triage: monthly cost +$372.00 (+100.0%) is beyond the cost policy's limit "
        "of +$250.00/month"
    )


def test_a_rise_within_the_limit_is_not_a_breach(fleet_repo: GitRepo) -> None:
    base = load_ref(fleet_repo.path, "HEAD")
    head = change(fleet_repo, "name: gpt-4.1-mini", "name: gpt-4.1")
    cost = cost_section(
        base, head, results(base, {AGENT: 0.0031}), results(head, {AGENT: 0.005}), [AGENT]
    )
    assert cost.rows[0].delta_monthly == pytest.approx(228.0)  # under +250, +61%
    assert cost.breaches == []


def test_the_percentage_limit_of_a_policy_matching_by_label(fleet_repo: GitRepo) -> None:
    fleet_repo.write(
        "policies/internal-spend.yaml",
        "apiVersion: alm/v1\nkind: Policy\nmetadata: {name: internal-spend}\n"
        "match: {labels: {tier: internal}}\ncost: {max_monthly_increase_pct: 25}\n",
    )
    fleet_repo.commit("internal agents: at most +25% a month")
    base = load_ref(fleet_repo.path, "HEAD")
    head = change(
        fleet_repo, "name: gpt-4o-mini", "name: gpt-4.1-mini", "agents/sales-research/agent.yaml"
    )
    changed = ["sales-research", AGENT]  # 6,000 tasks a month, internal; customer-facing
    before = results(base, {"sales-research": 0.0006, AGENT: 0.003})
    after = results(head, {"sales-research": 0.0009, AGENT: 0.006})
    cost = cost_section(base, head, before, after, changed)
    assert [r.agent for r in cost.rows] == changed
    assert [(b.agent, b.policy) for b in cost.breaches] == [
        ("sales-research", "internal-spend"),  # +$1.80 is +50%
        (AGENT, "cost"),  # +$360 is beyond the cost policy; internal-spend does not match it
    ]
    assert cost.breaches[0].text == (
        "sales-research: monthly cost +$1.80 (+50.0%) is beyond the internal-spend policy's "
        "limit of +25%"
    )
    assert cost.total_monthly_base == pytest.approx(3.6 + 360.0)
    assert cost.total_monthly_head == pytest.approx(5.4 + 720.0)


def test_an_agent_without_volume_has_no_monthly_figure(fleet_repo: GitRepo) -> None:
    base = load_ref(fleet_repo.path, "HEAD")
    head = change(fleet_repo, "  volume: {tasks_per_month: 120000}\n", "")
    cost = cost_section(
        base, head, results(base, {AGENT: 0.003}), results(head, {AGENT: 0.9}), [AGENT]
    )
    (row,) = cost.rows
    assert (row.per_task_base, row.per_task_head) == (0.003, 0.9)
    assert (row.tasks_per_month, row.monthly_base, row.monthly_head) == (None, 360.0, None)
    assert row.delta_monthly is None
    assert (cost.total_monthly_base, cost.total_monthly_head) == (0.0, 0.0)  # not in the totals
    assert cost.breaches == []  # an unknown rise is shown as unknown, not judged


def test_an_agent_without_results_on_a_side_has_no_cost_there(fleet_repo: GitRepo) -> None:
    base = load_ref(fleet_repo.path, "HEAD")
    head = change(fleet_repo, "name: gpt-4.1-mini", "name: gpt-4.1")
    cost = cost_section(base, head, None, results(head, {AGENT: 0.05}), [AGENT])
    (row,) = cost.rows
    assert (row.per_task_base, row.monthly_base, row.delta_monthly) == (None, None, None)
    assert row.monthly_head == pytest.approx(6000.0)
    assert cost.breaches == []


def test_a_new_agent_adds_its_whole_monthly_cost(fleet_repo: GitRepo) -> None:
    base = load_ref(fleet_repo.path, "HEAD")
    text = fleet_repo.read(AGENT_FILE).replace(f"name: {AGENT}", "name: triage-two", 1)
    fleet_repo.write("agents/triage-two/agent.yaml", text)
    fleet_repo.write(
        "agents/triage-two/prompts/system.md", fleet_repo.read(f"agents/{AGENT}/prompts/system.md")
    )
    fleet_repo.commit("a second triage agent")
    head = load_ref(fleet_repo.path, "HEAD")
    assert head.agent("triage-two") is not None
    for base_state in (base, None):  # absent from the base, or no base at all
        cost = cost_section(
            base_state, head, None, results(head, {"triage-two": 0.003}), ["triage-two"]
        )
        (row,) = cost.rows
        assert (row.model_base, row.model_head) == (None, "openai/gpt-4.1-mini")
        assert (row.monthly_base, row.monthly_head, row.delta_monthly) == (None, 360.0, 360.0)
        assert (cost.total_monthly_base, cost.total_monthly_head) == (0.0, 360.0)
        (breach,) = cost.breaches
        assert breach.text == (
            "triage-two: monthly cost +$360.00 (new agent) is beyond the cost policy's limit "
            "of +$250.00/month"
        )


def test_a_removed_agent_takes_its_cost_away(fleet_repo: GitRepo) -> None:
    base = load_ref(fleet_repo.path, "HEAD")
    fleet_repo.git("rm", "-rq", "agents/sales-research", "evals/sales-research")
    fleet_repo.commit("retire sales-research")
    head = load_ref(fleet_repo.path, "HEAD")
    changed = ["sales-research", "not-an-agent"]  # an agent in neither state has no row
    cost = cost_section(base, head, results(base, {"sales-research": 0.001}), None, changed)
    (row,) = cost.rows
    assert (row.model_base, row.model_head, row.tasks_per_month) == (
        "openai/gpt-4o-mini",
        None,
        6000,
    )
    assert (row.monthly_base, row.monthly_head, row.delta_monthly) == (6.0, None, -6.0)
    assert cost.breaches == []


def test_the_price_source_names_the_override_file(fleet_repo: GitRepo) -> None:
    base = load_ref(fleet_repo.path, "HEAD")
    fleet_repo.write(
        "policies/prices.yaml",
        "apiVersion: alm/v1\nkind: Pricing\nmodels:\n"
        "  - {provider: openai, name: gpt-4.1-nano, input_usd_per_mtok: 0.05, "
        "output_usd_per_mtok: 0.2}\n"
        "  - {provider: openai, name: o3, input_usd_per_mtok: 1, output_usd_per_mtok: 4}\n",
    )
    head = change(fleet_repo, "name: gpt-4.1-mini", "name: gpt-4.1-nano")
    before, after = results(base, {AGENT: 0.004}), results(head, {AGENT: 0.001})
    cost = cost_section(base, head, before, after, [AGENT])
    assert cost.price_source == f"{SOURCE} + overrides in policies/prices.yaml"
    # the same overrides, none of them for a model of a changed agent
    other = cost_section(base, head, before, after, ["email-drafting"])
    assert other.price_source == SOURCE
    pinned = cost_section(base, head, before, after, [AGENT], prices_version="0.0.1")
    assert pinned.price_source == "genai-prices 0.0.1 + overrides in policies/prices.yaml"


def test_with_real_eval_runs_a_doubled_volume_breaches(fleet_repo: GitRepo, tmp_path: Path) -> None:
    """Replayed eval runs of the example fleet's cassettes, base and head, as alm plan has."""
    root = fleet_repo.path
    base = load_worktree(root)
    base_run = run_evals(root, base, plan_jobs(base, [AGENT]), "replay", cache_path=None)
    head = change(fleet_repo, "tasks_per_month: 120000", "tasks_per_month: 240000")
    head_run = run_evals(root, head, plan_jobs(head, [AGENT]), "replay", cache_path=None)
    assert base_run.not_run == head_run.not_run == 0
    cost = cost_section(base, head, base_run.results, head_run.results, [AGENT])
    (row,) = cost.rows
    per_task = base_run.results.agents[0].metrics.overall.cost_per_task_usd
    assert per_task is not None and per_task > 0
    assert row.per_task_base == row.per_task_head == per_task
    assert row.monthly_base == pytest.approx(per_task * 120_000)
    assert row.monthly_head == pytest.approx(per_task * 240_000)
    trial_costs = [
        c.trajectory.cost_usd
        for run in (base_run, head_run)
        for c in run.results.cases
        if c.trajectory is not None
    ]
    assert cost.eval_run_cost_usd == pytest.approx(sum(trial_costs))
    assert per_task * 120_000 > 250  # the cassettes: about 372 USD a month, so +372 USD
    (breach,) = cost.breaches  # beyond +250 USD a month (+100% is within the 200%)
    assert breach.text.endswith("is beyond the cost policy's limit of +$250.00/month")
