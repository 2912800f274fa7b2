"""The unit economics of a window of tasks: costs per agent and revision, run-rate against
the declared volume and budget, trends, drivers; unpriced tasks counted, never free."""

from __future__ import annotations

import json
import math

import pytest

from reconciler.ops.economics import AgentPlan, Economics, economics, to_json
from reconciler.ops.model import NS_PER_S, Task, Window, task_cost
from reconciler.ops.rates import RatedPriceBook
from reconciler.pricing import PriceBook
from tests.ops_report_tasks import DAY0_NS, make_task

CALL_USD = (800 * 0.4 + 120 * 1.6) / 1_000_000  # one gpt-4.1-mini call of the helper
PLANS = {
    "support-triage": AgentPlan("support-triage", 120_000, 0.001, 0.05, 4),
    "email-drafting": AgentPlan("email-drafting", None, None, 0.06, 8),
}


def window(days: float) -> Window:
    return Window(DAY0_NS, DAY0_NS + int(days * 86400 * NS_PER_S))


def run(tasks: list[Task], days: float = 1.0) -> Economics:
    return economics(iter(tasks), PLANS, RatedPriceBook(), window(days), "traces.db")


def test_costs_per_agent_and_revision_match_task_cost() -> None:
    tasks = [make_task(i, "support-triage", "sha256:" + "a" * 64, tools=["kb.search"] * (i % 3))
             for i in range(10)]  # fmt: skip
    tasks += [make_task(10 + i, "support-triage", "sha256:" + "b" * 64) for i in range(5)]
    result = run(tasks)
    row = result.agents[0]
    exact = [task_cost(t, PriceBook()) for t in tasks]
    assert row.cost.total_usd == pytest.approx(math.fsum(c or 0 for c in exact), rel=1e-12)
    a, b = row.revisions
    assert (a.revision, a.cost.tasks, b.cost.tasks) == ("sha256:" + "a" * 64, 10, 5)
    assert b.cost.mean_usd == pytest.approx(CALL_USD)
    # 10 tasks of 1, 2, 3 calls (i % 3 tools + 1): nearest-rank p50 = 2 calls, p95 = 3
    assert a.cost.p50_usd == pytest.approx(2 * CALL_USD)
    assert a.cost.p95_usd == pytest.approx(3 * CALL_USD)


def test_unpriced_tasks_are_counted_and_left_out_of_every_usd_figure() -> None:
    tasks = [make_task(1, "support-triage"), make_task(2, "support-triage", provider="acme",
                                                       model="secret-model-1")]  # fmt: skip
    result = run(tasks)
    assert (result.total.tasks, result.total.unpriced) == (2, 1)
    assert result.total.total_usd == pytest.approx(CALL_USD)
    assert result.total.mean_usd == pytest.approx(CALL_USD)  # over the priced task only
    unpriced = [m for m in result.drivers.models if m.cost_usd is None]
    assert [(m.model, m.calls) for m in unpriced] == [("secret-model-1", 1)]


def test_an_agent_with_only_unpriced_tasks_has_no_run_rate_rather_than_zero() -> None:
    result = run([make_task(1, "email-drafting", provider="acme", model="secret-model-1")])
    (row,) = result.agents
    assert (row.run_rate_usd, row.cost.mean_usd, row.status) == (None, None, "no cost data")


def test_run_rate_against_declared_volume_budget_and_ceiling() -> None:
    # 40 tasks of 2 calls over 2 days: 20 tasks a day
    tasks = [make_task(i, "support-triage", start_s=i * 3600, tools=["kb.search"])
             for i in range(40)]  # fmt: skip
    row = run(tasks, days=2).agents[0]
    per_task = 2 * CALL_USD
    assert row.tasks_per_day == pytest.approx(20)
    assert row.run_rate_usd == pytest.approx(40 * per_task / 2 * 30)
    assert row.declared_run_rate_usd == pytest.approx(120_000 * per_task)
    assert row.budget_usd == pytest.approx(120_000 * 0.001)
    assert row.ceiling_usd == pytest.approx(120_000 * 0.05)
    assert row.status == "within budget"  # 0.6 USD a month against 120
    over = economics(iter(tasks), {"support-triage": AgentPlan("support-triage", 10, 1e-6,
                     0.05, 8)}, RatedPriceBook(), window(2), "x").agents[0]  # fmt: skip
    assert over.status == "over budget"


def test_an_agent_without_declared_volume_has_no_budget() -> None:
    row = run([make_task(1, "email-drafting")]).agents[0]
    assert (row.declared_run_rate_usd, row.budget_usd, row.status) == (None, None, "no budget")


def test_trend_is_hourly_under_two_days_and_daily_beyond() -> None:
    starts = (10, 3 * 3600 + 5, 3 * 3600 + 50)
    tasks = [make_task(i, "support-triage", start_s=s) for i, s in enumerate(starts)]
    hourly = run(tasks).trend
    assert (hourly.bucket, len(hourly.starts_ns)) == ("hour", 24)
    assert hourly.tasks["support-triage"][:4] == (1, 0, 0, 2)
    assert hourly.cost_usd["support-triage"][3] == pytest.approx(2 * CALL_USD)
    daily = run([*tasks, make_task(4, "support-triage", start_s=2 * 86400 + 1)], days=3).trend
    assert (daily.bucket, daily.tasks["support-triage"]) == ("day", (3, 0, 1))


def test_biggest_mover_compares_the_window_halves() -> None:
    tasks = [make_task(i, "email-drafting", start_s=50_000 + i) for i in range(2, 6)]
    tasks.insert(0, make_task(1, "support-triage", start_s=100))
    mover = run(tasks).mover
    assert mover is not None
    assert (mover.agent, mover.first_half_usd) == ("email-drafting", 0.0)
    assert mover.change_usd == pytest.approx(4 * CALL_USD)
    assert run([]).mover is None


def pattern(result: Economics, key: str) -> tuple[int, int, float]:
    found = next(p for p in result.drivers.patterns if p.key == key)
    return found.tasks, found.occurrences, found.cost_usd


def test_tool_loops_same_tool_three_times_in_a_row_or_over_max_steps() -> None:
    looping = make_task(1, "support-triage", tools=["kb.search"] * 3)  # 4 calls
    many = make_task(2, "support-triage", tools=["a", "b", "a", "b", "c"])  # > max_steps 4
    calm = make_task(3, "support-triage", tools=["a", "b", "a"])
    result = run([looping, many, calm])
    assert pattern(result, "tool-loops") == (2, 2, pytest.approx(10 * CALL_USD))
    loops = next(p for p in result.drivers.patterns if p.key == "tool-loops")
    assert set(loops.tools) == {"kb.search", "a"}


def test_retries_failed_call_then_same_tool_and_model_recalls() -> None:
    retried = make_task(1, "support-triage", tools=[("crm.get", "timeout"), "crm.get"])
    failed_then_other = make_task(2, "support-triage", tools=[("crm.get", "timeout"), "kb"])
    reasked = make_task(3, "support-triage", extra_calls=2)
    result = run([retried, failed_then_other, reasked])
    assert pattern(result, "tool-retries") == (1, 1, pytest.approx(3 * CALL_USD))
    assert pattern(result, "model-recalls") == (1, 2, pytest.approx(2 * CALL_USD))


def test_long_tail_is_the_costliest_five_percent() -> None:
    tasks = [make_task(i, "support-triage") for i in range(38)]
    tasks += [make_task(100 + i, "support-triage", tools=["kb"] * 9) for i in range(2)]
    result = run(tasks)
    assert pattern(result, "long-tail") == (2, 2, pytest.approx(20 * CALL_USD))
    tail = next(p for p in result.drivers.patterns if p.key == "long-tail")
    assert tail.share == pytest.approx(20 / 58)


def test_model_drivers_add_up_tokens_and_cost() -> None:
    tasks = [make_task(1, "support-triage", tools=["kb"]),
             make_task(2, "email-drafting", model="gpt-4.1", tokens=(1000, 10))]  # fmt: skip
    models = {m.model: m for m in run(tasks).drivers.models}
    mini, big = models["gpt-4.1-mini"], models["gpt-4.1"]
    assert (mini.calls, mini.input_tokens, mini.output_tokens) == (2, 1600, 240)
    assert big.cost_usd == pytest.approx((1000 * 2 + 10 * 8) / 1e6)
    assert (mini.share or 0) + (big.share or 0) == pytest.approx(1.0)


def test_undeclared_agents_are_listed_and_the_result_is_json() -> None:
    result = run([make_task(1, "retired-agent"), make_task(2, "support-triage")])
    assert result.undeclared_agents == ("retired-agent",)
    data = to_json(result)
    assert json.loads(json.dumps(data)) == data
    assert data["total"]["tasks"] == 2
    assert {a["agent"] for a in data["agents"]} == {"retired-agent", "support-triage"}


def test_an_empty_window_costs_nothing_and_says_so() -> None:
    result = run([])
    assert (result.total.tasks, result.total.mean_usd, result.agents) == (0, None, ())
    assert result.run_rate_usd is None and result.drivers.models == ()
