"""Every metric against a value computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import pytest

from reconciler.evals.gate import check, evaluate
from reconciler.evals.metrics import (
    Metrics,
    compute,
    compute_agent,
    pass_hat,
    percentile,
    rate,
    wilson,
)
from reconciler.evals.records import CaseResult
from reconciler.spec.agent import Bound
from tests.evalrecords import trial, trials

approx = pytest.approx


def fleet() -> list[CaseResult]:
    """Five cases of one trial each; c5 did not run.

    case  status  outcome    expected   tool calls (ok?)   must-never  cost  latency  tags
    c1    passed  resolved   resolved   ok, ok             -           0.01  1.0      x
    c2    passed  escalated  escalated  ok, failed         -           0.02  2.0      x, esc
    c3    failed  resolved   escalated  ok                 -           0.03  3.0      esc
    c4    failed  escalated  resolved   failed             violated    0.04  4.0      -
    c5    not run                       escalated
    """
    return [
        trial("c1", calls=(True, True), cost=0.01, latency=1.0, tags=("x",)),
        trial("c2", outcome="escalated", expected="escalated", calls=(True, False), cost=0.02,
              latency=2.0, tags=("x", "esc")),
        trial("c3", "failed", outcome="resolved", expected="escalated", calls=(True,), cost=0.03,
              latency=3.0, tags=("esc",)),
        trial("c4", "failed", outcome="escalated", expected="resolved", calls=(False,),
              must_never=True, cost=0.04, latency=4.0),
        trial("c5", "not_run", expected="escalated"),
    ]  # fmt: skip


@pytest.fixture
def metrics() -> Metrics:
    return compute(fleet())


def test_not_run_trials_are_counted_but_excluded(metrics: Metrics) -> None:
    # graded: c1..c4 = 4 trials in 4 cases; c5 not run: 1 trial, 1 case
    assert (metrics.trials, metrics.cases) == (4, 4)
    assert (metrics.not_run_trials, metrics.not_run_cases) == (1, 1)


def test_task_success_rate(metrics: Metrics) -> None:
    # passed c1, c2 of 4 graded trials: 2 / 4 = 0.5 (c5 is not in the denominator)
    r = metrics.task_success_rate
    assert (r.successes, r.total, r.value) == (2, 4, 0.5)
    # Wilson, z = 1.959964, z^2 = 3.841459, n = 4, p = 0.5:
    #   denominator = 1 + 3.841459/4 = 1.960365
    #   centre = (0.5 + 3.841459/8) / 1.960365 = 0.980182 / 1.960365 = 0.5
    #   half = 1.959964 * sqrt(0.25/4 + 3.841459/64) / 1.960365
    #        = 1.959964 * sqrt(0.122523) / 1.960365 = 1.959964 * 0.350033 / 1.960365 = 0.349961
    assert (r.low, r.high) == (approx(0.150039, abs=1e-5), approx(0.849961, abs=1e-5))


def test_tool_call_success_rate(metrics: Metrics) -> None:
    # calls: c1 ok ok, c2 ok failed, c3 ok, c4 failed -> 4 succeeded of 6 = 0.6667
    r = metrics.tool_call_success_rate
    assert (r.successes, r.total, r.value) == (4, 6, approx(2 / 3))


def test_escalation_precision_and_recall(metrics: Metrics) -> None:
    # escalations made: c2 (expected) and c4 (not expected) -> precision 1 / 2 = 0.5
    # escalations expected among graded trials: c2 (made) and c3 (missed); c5 did not run
    #   -> recall 1 / 2 = 0.5
    p, r = metrics.escalation_precision, metrics.escalation_recall
    assert (p.successes, p.total, p.value) == (1, 2, 0.5)
    assert (r.successes, r.total, r.value) == (1, 2, 0.5)


def test_policy_compliance(metrics: Metrics) -> None:
    # c4 broke a must-never rule: 3 / 4 = 0.75
    r = metrics.policy_compliance
    assert (r.successes, r.total, r.value) == (3, 4, 0.75)


def test_cost_per_task(metrics: Metrics) -> None:
    # (0.01 + 0.02 + 0.03 + 0.04) / 4 = 0.025; c5 has no cost and is not counted
    assert metrics.cost_per_task_usd == approx(0.025)


def test_latency_percentiles_nearest_rank(metrics: Metrics) -> None:
    # sorted [1, 2, 3, 4], n = 4: p50 rank ceil(0.50*4) = 2 -> 2.0; p95 rank ceil(3.8) = 4 -> 4.0
    assert (metrics.latency_p50_s, metrics.latency_p95_s) == (2.0, 4.0)


def test_pass_hat_k_with_one_repeat_is_the_success_rate(metrics: Metrics) -> None:
    # k = 1 everywhere: C(c,1)/C(n,1) = c/n -> 1, 1, 0, 0 over 4 cases = 0.5; c5 has n = 0 < k
    assert (metrics.pass_hat_k.value, metrics.pass_hat_k.total) == (0.5, 4)
    assert metrics.pass_hat_by_k == {1: 0.5}


def test_metrics_per_tag() -> None:
    by_tag = compute_agent(fleet()).by_tag
    assert sorted(by_tag) == ["esc", "x"]
    # x: c1 passed, c2 passed -> 2 / 2
    assert by_tag["x"].task_success_rate.value == 1.0
    # esc: c2 passed, c3 failed -> 1 / 2; escalations made: c2 (expected) -> precision 1 / 1;
    #      expected: c2, c3 -> recall 1 / 2; cost (0.02 + 0.03) / 2 = 0.025
    esc = by_tag["esc"]
    assert esc.task_success_rate.value == 0.5
    assert esc.escalation_precision.value == 1.0
    assert esc.escalation_recall.value == 0.5
    assert esc.cost_per_task_usd == approx(0.025)


def test_pass_hat_k_with_repeats() -> None:
    results = [
        *trials("a", "PPF"),  # k=3, n=3, c=2: C(2,3)/C(3,3) = 0/1 = 0
        *trials("b", "PPP"),  # k=3, n=3, c=3: C(3,3)/C(3,3) = 1
        *trials("d", "PPN"),  # k=3, n=2 < 3: excluded from pass^k
    ]
    # c: declared k=2 but three trials ran (e.g. repeats raised): C(2,2)/C(3,2) = 1/3
    results += [trial("c", s, trial_no=i, repeats=2) for i, s in enumerate(("passed",) * 2)]
    results += [trial("c", "failed", trial_no=2, repeats=2)]
    m = compute(results)
    # pass^k = (0 + 1 + 1/3) / 3 cases = 4/9
    assert (m.pass_hat_k.value, m.pass_hat_k.total) == (approx(4 / 9), 3)
    # the curve over cases with n >= k:
    #   k=1: a 2/3, b 1, c 2/3, d 2/2=1            -> (10/3) / 4 = 5/6
    #   k=2: a C(2,2)/C(3,2)=1/3, b 1, c 1/3, d 1  -> (8/3) / 4 = 2/3
    #   k=3: a 0, b 1, c C(2,3)/C(3,3)=0 (d n=2)   -> 1 / 3
    assert m.pass_hat_by_k == {1: approx(5 / 6), 2: approx(2 / 3), 3: approx(1 / 3)}
    # per-trial rates: 12 trials, d's third did not run -> 11 graded; passed 2+3+2+2 = 9
    assert (m.task_success_rate.successes, m.task_success_rate.total) == (9, 11)


def test_pass_hat_estimator() -> None:
    # C(4,2)/C(5,2) = 6/10; C(5,5)/C(5,5) = 1; C(0,1)/C(3,1) = 0; n < k -> None
    assert pass_hat(4, 5, 2) == approx(0.6)
    assert pass_hat(5, 5, 5) == 1.0
    assert pass_hat(0, 3, 1) == 0.0
    assert pass_hat(2, 2, 3) is None


def test_wilson_interval_against_a_hand_computation() -> None:
    # 8 of 10: p = 0.8, z^2/n = 0.384146, denominator = 1.384146
    #   centre = (0.8 + 0.192073) / 1.384146 = 0.716738
    #   half = 1.959964 * sqrt(0.016 + 0.009604) / 1.384146 = 1.959964 * 0.160011 / 1.384146
    #        = 0.226576 -> (0.490162, 0.943314)
    low, high = wilson(8, 10)
    assert (low, high) == (approx(0.490162, abs=1e-5), approx(0.943314, abs=1e-5))
    # 0 of 5: centre = (0 + 3.841459/10) / 1.768292 = 0.217241 = half -> (0, 0.434482)
    low, high = wilson(0, 5)
    assert (low, high) == (approx(0.0, abs=1e-12), approx(0.434482, abs=1e-5))


def test_a_rate_with_no_data_is_not_measured() -> None:
    assert rate(0, 0).value is None and rate(0, 0).low is None
    m = compute([trial("a", calls=())])
    assert m.tool_call_success_rate.value is None  # no tool calls at all
    assert m.escalation_precision.value is None and m.escalation_recall.value is None
    empty = compute([trial("a", "not_run")])
    assert (empty.trials, empty.task_success_rate.value, empty.cost_per_task_usd) == (0, None, None)
    assert empty.latency_p95_s is None and empty.pass_hat_by_k == {}


def test_percentile_nearest_rank() -> None:
    # [1..5]: p50 rank ceil(2.5)=3 -> 3; p95 rank ceil(4.75)=5 -> 5
    assert percentile([5, 1, 4, 2, 3], 50) == 3
    assert percentile([5, 1, 4, 2, 3], 95) == 5
    # [1..20]: p95 rank ceil(0.95*20) = 19 exactly (no floating-point drift to 20)
    assert percentile(range(1, 21), 95) == 19
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


# --- the gate --------------------------------------------------------------------------


def test_gate_checks_each_declared_bound(metrics: Metrics) -> None:
    bounds = {
        "task_success_rate": Bound(min=0.5),  # 0.5 >= 0.5: inclusive
        "tool_call_success_rate": Bound(min=0.97),  # 0.667 < 0.97
        "cost_per_task_usd": Bound(max=0.02),  # 0.025 > 0.02
        "latency_p95_s": Bound(max=4),  # 4.0 <= 4
    }
    gate = evaluate(metrics, bounds)
    assert [(c.metric, c.status) for c in gate.checks] == [
        ("task_success_rate", "passed"),
        ("tool_call_success_rate", "failed"),
        ("cost_per_task_usd", "failed"),
        ("latency_p95_s", "passed"),
    ]
    assert gate.status == "failed" and not gate.passed
    assert gate.checks[1].reason == (
        "tool_call_success_rate 0.6667 (95% CI 0.300-0.903, n=6) is below min 0.97"
    )
    assert gate.checks[2].reason == "cost_per_task_usd 0.025 is above max 0.02"


def test_a_metric_with_no_data_is_not_measured_never_passed() -> None:
    m = compute([trial("a", calls=())])
    c = check("escalation_precision", Bound(min=0.85), m)
    assert (c.status, c.value) == ("not_measured", None)
    assert c.reason == "not measured: no escalations were made"
    gate = evaluate(m, {"task_success_rate": Bound(min=0.9), "escalation_recall": Bound(min=0.9)})
    assert gate.status == "not_measured" and not gate.passed
    nothing_ran = compute([trial("a", "not_run")])
    assert check("task_success_rate", Bound(min=0.9), nothing_ran).reason == (
        "not measured: no graded trial (1 not run)"
    )


def test_gate_passes_when_every_bound_holds() -> None:
    m = compute([trial("a"), trial("b")])
    gate = evaluate(m, {"policy_compliance": Bound(min=1.0), "task_success_rate": Bound(min=0.9)})
    assert gate.passed and [c.status for c in gate.checks] == ["passed", "passed"]
