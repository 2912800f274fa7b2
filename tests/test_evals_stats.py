from __future__ import annotations

import random
from typing import Any

import pytest

from reconciler.evals.records import CaseResult
from reconciler.evals.regression_checks import Tolerances, case_state
from reconciler.evals.results import RunInfo, build, score
from reconciler.evals.stats import compare, compare_agent, compare_runs
from tests.evalrecords import trial, trials

AGENT = "support-triage"


def paired(base: str, head: str, **kwargs: Any) -> tuple[list[CaseResult], list[CaseResult]]:
    """One single-trial case per letter position: P passed, F failed, N not run."""
    names: dict[str, Any] = {"P": "passed", "F": "failed", "N": "not_run"}
    b = [trial(f"c{i:03}", names[s], **kwargs) for i, s in enumerate(base)]
    h = [trial(f"c{i:03}", names[s], **kwargs) for i, s in enumerate(head)]
    return b, h


def repeated(cases: list[tuple[str, str]]) -> tuple[list[CaseResult], list[CaseResult]]:
    """(base letters, head letters) per case, one letter per repeat."""
    base: list[CaseResult] = []
    head: list[CaseResult] = []
    for i, (b, h) in enumerate(cases):
        base += trials(f"c{i:03}", b)
        head += trials(f"c{i:03}", h)
    return base, head


# --- pass rate -------------------------------------------------------------------------


def test_a_real_drop_is_flagged_with_its_exact_p_value() -> None:
    # 8 of 20 drop, none rise: p = 1 / 2^8 (only all eight signs negative are as low)
    base, head = paired("P" * 20, "F" * 8 + "P" * 12)
    cmp = compare_agent(AGENT, base, head)
    check = cmp.pass_rate
    assert (check.base, check.head, check.p_value) == (1.0, 0.6, 1 / 256)
    assert check.regressed and check.why == "regressed"
    assert cmp.regressed == (check,) and cmp.failed
    assert [p.case for p in cmp.changed] == [f"routing/c{i:03}" for i in range(8)]


def test_a_large_but_insignificant_drop_is_not_flagged() -> None:
    # 4 of 10 drop: drop 40 points but p = 1/16 = 0.0625 >= 0.05
    base, head = paired("P" * 10, "F" * 4 + "P" * 6)
    check = compare_agent(AGENT, base, head).pass_rate
    assert (check.p_value, check.regressed, check.why) == (0.0625, False, "not significant")


def test_a_significant_drop_within_tolerance_is_not_flagged() -> None:
    base, head = paired("P" * 20, "F" * 8 + "P" * 12)
    check = compare_agent(AGENT, base, head, Tolerances(success_drop=0.5)).pass_rate
    assert check.p_value == 1 / 256  # significant ...
    assert (check.regressed, check.why) == (False, "within tolerance")  # ... but 40 <= 50 points


def test_a_drop_of_exactly_the_tolerance_is_within_it() -> None:
    # 10 of 200 drop: exactly 5 points, p = 2^-10
    base, head = paired("P" * 200, "F" * 10 + "P" * 190)
    check = compare_agent(AGENT, base, head).pass_rate
    assert check.p_value == 2**-10 and check.why == "within tolerance"


def test_noise_is_not_flagged() -> None:
    # 3 drop and 2 rise of 20: p = P(sum of 5 signs <= -1) = 16/32
    base, head = paired("PPPPPPPPPPPPPPPPPFFF", "FFFPPPPPPPPPPPPPPPPF")
    check = compare_agent(AGENT, base, head).pass_rate
    assert (check.p_value, check.regressed, check.why) == (0.5, False, "within tolerance")


def test_three_of_three_to_two_of_three_on_60_of_200_cases_is_flagged() -> None:
    # the drop McNemar on stable cases never saw: every affected case becomes flaky
    base, head = repeated([("PPP", "PFP")] * 60 + [("PPP", "PPP")] * 140)
    cmp = compare_agent(AGENT, base, head)
    check = cmp.pass_rate
    assert check.base == 1.0 and check.head == pytest.approx(0.9)  # a 10-point drop reads 10
    assert check.p_value == 2**-60 and check.regressed
    assert len(cmp.flaky) == 60 and all(p.head.passed == 2 for p in cmp.flaky)  # still listed


def test_flaky_cases_count_by_their_pass_fraction_and_are_listed() -> None:
    base, head = repeated([("PFP", "FPF"), ("PPP", "PPP"), ("FFF", "PPF")])
    cmp = compare_agent(AGENT, base, head)
    assert len(cmp.pairs) == 3 and [p.case for p in cmp.flaky] == ["routing/c000", "routing/c002"]
    assert cmp.pass_rate.base == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert cmp.pass_rate.head == pytest.approx((1 / 3 + 1 + 2 / 3) / 3)
    # scaled by 3: differences -1 and +2; P(T* <= +1) = 3/4
    assert cmp.pass_rate.p_value == 0.75


def test_identical_runs_are_never_flagged() -> None:
    rng = random.Random(11)
    for _ in range(20):
        letters = ["".join(rng.choice("PPPF") for _ in range(3)) for _ in range(200)]
        base, head = repeated([(x, x) for x in letters])
        cmp = compare_agent(AGENT, base, head)
        assert cmp.pass_rate.p_value == 1.0 and not cmp.failed and not cmp.changed


def test_case_state() -> None:
    assert case_state(trials("a", "PPP")) == "passed"
    assert case_state(trials("a", "FFN")) == "failed"
    assert case_state(trials("a", "PFN")) == "flaky"
    assert case_state(trials("a", "NN")) == "not_run"
    assert case_state([]) == "missing"


# --- unpaired cases --------------------------------------------------------------------


def test_unpaired_edited_and_not_run_cases_are_reported() -> None:
    base = [trial("a"), trial("b"), trial("c", case_hash="h1"), trial("d"), *trials("f", "PP")]
    head = [trial("a", "not_run"), trial("c", "failed", case_hash="h2"), trial("d"), trial("e")]
    head += trials("f", "PN")
    cmp = compare_agent(AGENT, base, head)
    assert [(p.case, p.base.state, p.head.state) for p in cmp.not_run] == [
        ("routing/a", "passed", "not_run"),
        ("routing/f", "passed", "passed"),  # one of two trials ran: paired on it, and reported
    ]
    assert cmp.edited == ("routing/c",)
    assert (cmp.only_base, cmp.only_head) == (("routing/b",), ("routing/e",))
    assert [p.case for p in cmp.pairs] == ["routing/d", "routing/f"]
    assert cmp.incomplete and cmp.failed and not cmp.regressed


def test_no_pairs_is_never_a_pass() -> None:
    cmp = compare_agent(AGENT, [trial("a", "not_run")], [trial("a")])
    assert cmp.pairs == () and cmp.failed
    assert all(c.why == "not measured" and c.base is None for c in cmp.checks)


def test_compare_pairs_agents_present_on_both_sides() -> None:
    base = [trial("a", agent="x"), trial("a", agent="y")]
    head = [trial("a", agent="y"), trial("a", agent="z")]
    assert [c.agent for c in compare(base, head)] == ["y"]


def test_compare_runs_names_agents_on_one_side_and_is_deterministic_only_in_replay() -> None:
    def results(mode: str, *agents: str) -> Any:
        cases = [trial("a", agent=a) for a in agents]
        scored = [score(a, "openai/gpt-4.1-mini", {}, cases) for a in agents]
        return build(RunInfo(mode=mode), scored, cases)

    run = compare_runs(results("replay", "x", "y"), results("replay", "y", "z"))
    assert [c.agent for c in run.comparisons] == ["y"] and run.comparisons[0].deterministic
    assert (run.only_base, run.only_head, run.failed) == (("x",), ("z",), ())
    live = compare_runs(results("replay", "y"), results("live", "y"))
    assert not live.comparisons[0].deterministic


# --- cost and latency ------------------------------------------------------------------


def test_cost_under_replay_regresses_beyond_the_relative_tolerance() -> None:
    base, _ = paired("PP", "PP", cost=0.01)
    _, pricier = paired("PP", "PP", cost=0.0115)  # +15% > +10%
    _, slightly = paired("PP", "PP", cost=0.0105)  # +5%
    cmp = compare_agent(AGENT, base, pricier, deterministic=True)
    assert (cmp.cost.base, cmp.cost.head, cmp.cost.p_value) == (0.01, 0.0115, None)
    assert cmp.cost.regressed and cmp.regressed == (cmp.cost,) and not cmp.pass_rate.regressed
    assert compare_agent(AGENT, base, slightly, deterministic=True).cost.why == "within tolerance"


def test_cost_rising_from_zero_is_a_regression() -> None:
    base, _ = paired("P", "P", cost=0.0)
    _, head = paired("P", "P", cost=0.001)
    assert compare_agent(AGENT, base, head, deterministic=True).cost.regressed


def test_live_cost_rise_needs_significance_too() -> None:
    base, _ = paired("P" * 4, "P" * 4, cost=0.01)
    _, head = paired("P" * 4, "P" * 4, cost=0.02)  # +100% on 4 cases: p = 1/16
    cost = compare_agent(AGENT, base, head).cost
    assert (cost.p_value, cost.regressed, cost.why) == (1 / 16, False, "not significant")
    base, _ = paired("P" * 8, "P" * 8, cost=0.01)
    _, head = paired("P" * 8, "P" * 8, cost=0.02)
    assert compare_agent(AGENT, base, head).cost.regressed  # p = 1/256


def latencies(values: list[float]) -> list[CaseResult]:
    return [trial(f"c{i:03}", latency=v) for i, v in enumerate(values)]


def test_latency_compares_per_case_means_with_an_absolute_minimum() -> None:
    base = latencies([1.0] * 20)
    cmp = compare_agent(AGENT, base, latencies([1.4] * 20), deterministic=True)
    assert cmp.latency.why == "within tolerance"  # +40% but only +0.4 s
    cmp = compare_agent(AGENT, base, latencies([1.6] * 20), deterministic=True)
    assert cmp.latency.regressed and cmp.latency.p_value is None  # +0.6 s and +60%
    slow = compare_agent(AGENT, latencies([10.0] * 20), latencies([11.0] * 20), deterministic=True)
    assert slow.latency.why == "within tolerance"  # +1 s but only +10%


def test_a_few_slow_trials_are_not_a_latency_regression() -> None:
    # a bare p95 ratio would read +300%; the per-case means rise 0.3 s
    base = latencies([1.0] * 20)
    head = latencies([1.0] * 18 + [4.0, 4.0])
    assert not compare_agent(AGENT, base, head).latency.regressed


def test_live_latency_is_tested_on_paired_cases() -> None:
    rng = random.Random(2)
    base_values = [rng.uniform(1, 5) for _ in range(50)]
    noisy = [v + rng.uniform(-1.5, 1.6) for v in base_values]  # a small rise inside the noise
    cmp = compare_agent(AGENT, latencies(base_values), latencies([v * 1.6 for v in noisy]))
    assert cmp.latency.regressed and cmp.latency.p_value is not None
    assert cmp.latency.p_value < 0.05
    # the same rise on 4 cases only, against heavy noise: beyond tolerance, not significant
    few = compare_agent(AGENT, latencies([1.0, 9.0, 1.0, 1.0]), latencies([5.0, 1.0, 9.0, 2.0]))
    assert few.latency.why == "not significant" and few.latency.p_value == pytest.approx(0.375)
