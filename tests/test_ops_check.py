"""alm ops check, the pure part: windows of production tasks against the contract and the
eval baseline, with a minimum sample size and confidence intervals (reconciler.ops.check)."""

from __future__ import annotations

from typing import Any

from reconciler.evals.metrics import compute
from reconciler.ops.check import (
    AgentCheck,
    Row,
    Settings,
    breached,
    check_agent,
    drop_p_value,
    rows,
)
from reconciler.ops.model import NS_PER_S, ModelUse, Task, Window
from reconciler.ops.online import window_results
from reconciler.pricing import PriceBook
from reconciler.spec.agent import Agent
from tests import evalrecords
from tests import evals_support as es

LIVE = "sha256:" + "1" * 64
OLD = "sha256:" + "2" * 64
START = 1_790_000_000 * NS_PER_S
WINDOW = Window(START, START + 24 * 3600 * NS_PER_S)
METRICS = {
    "task_success_rate": {"min": 0.9},
    "cost_per_task_usd": {"max": 0.01},
    "latency_p95_s": {"max": 6},
}


def agent() -> Agent:
    return es.agent(contract={**es.AGENT["contract"], "success_metrics": METRICS})


def tasks(
    n: int,
    failing: int = 0,
    revision: str = LIVE,
    seconds: float = 2.0,
    tokens: int = 800,
    **labels: Any,
) -> list[Task]:
    model = ModelUse("m" * 16, "openai", "gpt-4.1-mini", tokens, 100)
    made = []
    for i in range(n):
        start = START + i * NS_PER_S
        made.append(
            Task(
                f"{i:032x}", f"{i:016x}", "triage", revision, "prod", start,
                start + int(seconds * NS_PER_S), model_calls=(model,),
                success=False if i < failing else None, **labels,
            )
        )  # fmt: skip
    return made


DEFAULTS = Settings()


def check(the_tasks: list[Task], settings: Settings = DEFAULTS, **row: Any) -> AgentCheck:
    groups = window_results(the_tasks, {"triage": agent()}, PriceBook())
    results = groups.get(("triage", LIVE), [])
    return check_agent(Row(agent(), LIVE, True, results, **row), "prod", WINDOW, settings)


def metric(result: AgentCheck, name: str, against: str = "contract") -> Any:
    return next(c for c in result.checks if c.metric == name and c.against == against)


def test_a_failure_rate_beyond_the_interval_with_enough_samples_is_a_breach() -> None:
    result = check(tasks(100, failing=30))
    assert result.status == "breach"
    [breach] = result.breaches
    assert (breach.metric, breach.bound, breach.threshold, breach.samples) == (
        "task_success_rate", "min", 0.9, 100,
    )  # fmt: skip
    assert breach.value == 0.7 and breach.high is not None and breach.high < 0.9
    assert breach.window == WINDOW and breach.against == "contract"
    assert breach.example_traces == tuple(f"{i:032x}" for i in range(5))


def test_the_same_failure_rate_with_too_few_samples_is_not_a_breach() -> None:
    result = check(tasks(20, failing=6))
    assert result.status == "insufficient" and not result.breaches
    assert metric(result, "task_success_rate").status == "insufficient"


def test_a_lower_min_samples_makes_the_same_window_a_breach() -> None:
    result = check(tasks(20, failing=10), Settings(min_samples=10))
    assert result.status == "breach"


def test_a_rate_whose_interval_straddles_the_threshold_is_not_a_breach() -> None:
    result = check(tasks(60, failing=8))  # 0.867 < 0.9, but the interval reaches past it
    check_ = metric(result, "task_success_rate")
    assert check_.value < 0.9 < check_.high
    assert check_.status == "ok" and result.status == "ok"


def test_cost_per_task_beyond_its_bound_is_a_breach() -> None:
    result = check(tasks(40, tokens=40_000))
    [breach] = result.breaches
    assert breach.metric == "cost_per_task_usd" and breach.bound == "max"
    assert breach.value > 0.01 and breach.low is None and len(breach.example_traces) == 5


def test_latency_p95_beyond_its_bound_is_a_breach() -> None:
    slow = tasks(40, seconds=9.0)[:3]
    fast = tasks(40)[3:]
    result = check(slow + fast)
    [breach] = result.breaches
    assert breach.metric == "latency_p95_s" and breach.value == 9.0
    assert breach.example_traces == tuple(f"{i:032x}" for i in range(3))


def test_a_significant_drop_below_the_baseline_is_a_breach() -> None:
    baseline = compute(evalrecords.trial(f"c{i}") for i in range(40))  # all 40 pass
    result = check(tasks(200, failing=16), baseline=baseline)  # 0.92: above the contract
    assert metric(result, "task_success_rate").status == "ok"
    drop = metric(result, "task_success_rate", "baseline")
    assert drop.status == "breach" and drop.threshold == 1.0 and drop.p_value < 0.05
    assert [b.against for b in result.breaches] == ["baseline"]


def test_a_drop_within_the_tolerance_or_not_significant_is_not_a_breach() -> None:
    baseline = compute(evalrecords.trial(f"c{i}") for i in range(40))
    within = check(tasks(200, failing=6), baseline=baseline)  # 0.97: 3 points down
    assert metric(within, "task_success_rate", "baseline").status == "ok"
    few = compute(evalrecords.trial(f"c{i}") for i in range(5))  # 5 cases: no evidence
    noisy = check(tasks(200, failing=16), baseline=few)
    assert metric(noisy, "task_success_rate", "baseline").status == "ok"


def test_drop_p_value() -> None:
    baseline = compute(evalrecords.trial(f"c{i}") for i in range(40)).task_success_rate
    same = compute(evalrecords.trial(f"c{i}") for i in range(40)).task_success_rate
    assert drop_p_value(baseline, same) == 1.0
    worse = compute(
        evalrecords.trial(f"w{i}", "failed" if i < 20 else "passed") for i in range(40)
    ).task_success_rate
    p_value = drop_p_value(baseline, worse)
    assert p_value is not None and p_value < 0.001


def test_rows_put_the_live_revision_first_and_give_a_quiet_agent_its_line() -> None:
    groups = window_results(tasks(5, revision=OLD) + tasks(3), {"triage": agent()}, PriceBook())
    found = rows(groups, {"triage": agent()}, {"triage": LIVE}, {})
    assert [(r.revision, r.current, len(r.results)) for r in found] == [
        (LIVE, True, 3), (OLD, False, 5),
    ]  # fmt: skip
    quiet = rows({}, {"triage": agent()}, {"triage": LIVE}, {})
    assert [(r.revision, len(r.results)) for r in quiet] == [(LIVE, 0)]
    unknown = rows(groups, {"triage": agent()}, {}, {})
    assert all(r.current for r in unknown)


def test_only_a_current_revision_in_breach_is_breached() -> None:
    groups = window_results(tasks(100, failing=50, revision=OLD), {"triage": agent()}, PriceBook())
    found = rows(groups, {"triage": agent()}, {"triage": LIVE}, {})
    checks = [check_agent(r, "prod", WINDOW, Settings()) for r in found]
    assert [c.status for c in checks] == ["insufficient", "breach"]
    assert breached(checks) == []


def test_a_perfect_window_meets_a_min_of_one() -> None:
    bounds = {"policy_compliance": {"min": 1.0}}
    perfect = es.agent(contract={**es.AGENT["contract"], "success_metrics": bounds})
    results = window_results(tasks(60), {"triage": perfect}, PriceBook())[("triage", LIVE)]
    found = check_agent(Row(perfect, LIVE, True, results), "prod", WINDOW, Settings())
    assert found.status == "ok" and metric(found, "policy_compliance").value == 1.0
