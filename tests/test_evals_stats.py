from __future__ import annotations

from typing import Any

import pytest

from reconciler.evals.records import CaseResult
from reconciler.evals.stats import Tolerances, case_state, compare, compare_agent, mcnemar_exact
from tests.evalrecords import trial, trials

AGENT = "support-triage"


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (0, 0, 1.0),  # no discordant pair
        (5, 0, 0.0625),  # 2 * C(5,0) / 2^5 = 2/32
        (6, 0, 0.03125),  # 2 * 1 / 64
        (0, 6, 0.03125),  # symmetric
        (8, 0, 0.0078125),  # 2 / 256
        (10, 1, 0.01171875),  # 2 * (C(11,0) + C(11,1)) / 2^11 = 2 * 12 / 2048
        (7, 2, 0.1796875),  # 2 * (1 + 9 + 36) / 2^9 = 92 / 512
        (2, 1, 1.0),  # 2 * (1 + 3) / 8 = 1
        (3, 3, 1.0),  # 2 * (1 + 6 + 15 + 20) / 64 = 84/64, capped at 1
        (12, 4, 0.076812744140625),  # 2 * (1+16+120+560+1820) / 2^16 = 5034 / 65536
    ],
)
def test_exact_mcnemar_p_values(b: int, c: int, p: float) -> None:
    assert mcnemar_exact(b, c) == p


def paired(base: str, head: str, **kwargs: Any) -> tuple[list[CaseResult], list[CaseResult]]:
    """One single-trial case per letter position: P passed, F failed, N not run."""
    names: dict[str, Any] = {"P": "passed", "F": "failed", "N": "not_run"}
    b = [trial(f"c{i:02}", names[s], **kwargs) for i, s in enumerate(base)]
    h = [trial(f"c{i:02}", names[s], **kwargs) for i, s in enumerate(head)]
    return b, h


def test_noise_is_not_flagged() -> None:
    # 20 cases; 2 regress and 1 is fixed: drop (2-1)/20 = 5% (not beyond 5%), p = 1.0
    base, head = paired("PPPPPPPPPPPPPPPPPFFF", "FFPPPPPPPPPPPPPPPPFF")
    cmp = compare_agent(AGENT, base, head)
    assert (cmp.regressions, cmp.fixes, cmp.pairs) == (2, 1, 20)
    assert cmp.drop == pytest.approx(0.05)
    assert cmp.p_value == 1.0
    assert not cmp.regressed
    assert cmp.reason.startswith("no regression (within tolerance)")


def test_a_large_but_insignificant_drop_is_not_flagged() -> None:
    # 5 of 10 regress: drop 50% but p = 2/32 = 0.0625 >= 0.05
    base, head = paired("PPPPPPPPPP", "FFFFFPPPPP")
    cmp = compare_agent(AGENT, base, head)
    assert (cmp.drop, cmp.p_value, cmp.regressed) == (0.5, 0.0625, False)
    assert "not significant" in cmp.reason


def test_a_real_drop_is_flagged() -> None:
    # 8 of 20 regress, none fixed: drop 40% > 5%, p = 2/256 = 0.0078 < 0.05
    base, head = paired("P" * 20, "F" * 8 + "P" * 12)
    cmp = compare_agent(AGENT, base, head)
    assert (cmp.regressions, cmp.fixes, cmp.drop) == (8, 0, 0.4)
    assert cmp.p_value == 0.0078125
    assert cmp.regressed and cmp.any_regression
    assert (cmp.base_pass_rate, cmp.head_pass_rate) == (1.0, 0.6)
    assert [c.case for c in cmp.regressed_cases] == [f"routing/c{i:02}" for i in range(8)]
    assert cmp.reason == (
        "regression: 8 regressed, 0 fixed of 20 paired cases; drop +40.0%, p=0.007812"
    )


def test_a_significant_drop_within_a_declared_tolerance_is_not_flagged() -> None:
    base, head = paired("P" * 20, "F" * 8 + "P" * 12)
    cmp = compare_agent(AGENT, base, head, Tolerances(success_drop=0.5))
    assert not cmp.regressed and "within tolerance" in cmp.reason


def test_flaky_cases_are_reported_and_never_regressions() -> None:
    base: list[CaseResult] = []
    head: list[CaseResult] = []
    for i in range(8):  # stable on base, flip between repeats on head
        base += trials(f"f{i}", "PPP")
        head += trials(f"f{i}", "PFP")
    for i in range(4):
        base += trials(f"s{i}", "PPP")
        head += trials(f"s{i}", "PPP")
    cmp = compare_agent(AGENT, base, head)
    assert len(cmp.flaky_cases) == 8
    assert {(c.base, c.head) for c in cmp.flaky_cases} == {("passed", "flaky")}
    assert (cmp.pairs, cmp.regressions, cmp.regressed) == (4, 0, False)


def test_case_state() -> None:
    assert case_state(trials("a", "PPP")) == "passed"
    assert case_state(trials("a", "FFN")) == "failed"
    assert case_state(trials("a", "PFN")) == "flaky"
    assert case_state(trials("a", "NN")) == "not_run"
    assert case_state([]) == "missing"


def test_unpaired_and_changed_cases_are_left_out_of_the_test() -> None:
    base = [trial("a"), trial("b"), trial("c", case_hash="h1"), trial("d")]
    head = [trial("a", "not_run"), trial("c", "failed", case_hash="h2"), trial("d"), trial("e")]
    cmp = compare_agent(AGENT, base, head)
    assert [(c.case, c.base, c.head) for c in cmp.unpaired_cases] == [
        ("routing/a", "passed", "not_run"),
        ("routing/b", "passed", "missing"),
        ("routing/e", "missing", "passed"),
    ]
    assert [c.case for c in cmp.changed_cases] == ["routing/c"]
    assert (cmp.pairs, cmp.regressions) == (1, 0)


def test_cost_regression_is_relative_with_tolerance() -> None:
    # mean cost per case 0.0100 -> 0.0115: +15% > +10%
    base, head = paired("PP", "PP", cost=0.01)
    _, pricier = paired("PP", "PP", cost=0.0115)
    cmp = compare_agent(AGENT, base, pricier)
    assert cmp.cost.change == pytest.approx(0.15)
    assert cmp.cost.regressed and cmp.any_regression and not cmp.regressed
    assert cmp.cost.reason == "cost_per_task_usd 0.01 -> 0.0115 (+15.0%, beyond +10%)"
    _, slightly = paired("PP", "PP", cost=0.0105)  # +5%: within
    assert not compare_agent(AGENT, base, slightly).cost.regressed
    assert not compare_agent(AGENT, base, head).cost.regressed


def test_cost_rising_from_zero_is_a_regression() -> None:
    base, _ = paired("P", "P", cost=0.0)
    _, head = paired("P", "P", cost=0.001)
    cmp = compare_agent(AGENT, base, head)
    assert (cmp.cost.change, cmp.cost.regressed) == (None, True)


def test_latency_p95_regression() -> None:
    # 20 cases, base latencies 1..20 s: p95 rank 19 -> 19 s; head all +30%: 24.7 s (+30% > +20%)
    base = [trial(f"c{i:02}", latency=float(i + 1)) for i in range(20)]
    head = [trial(f"c{i:02}", latency=1.3 * (i + 1)) for i in range(20)]
    cmp = compare_agent(AGENT, base, head)
    assert (cmp.latency_p95.base, cmp.latency_p95.head) == (19.0, pytest.approx(24.7))
    assert cmp.latency_p95.regressed
    assert not compare_agent(AGENT, base, head, Tolerances(latency_increase=0.35)).any_regression


def test_compare_pairs_agents_present_on_both_sides() -> None:
    base = [trial("a", agent="x"), trial("a", agent="y")]
    head = [trial("a", agent="y"), trial("a", agent="z")]
    assert [c.agent for c in compare(base, head)] == ["y"]


def test_no_pairs_means_no_verdict() -> None:
    cmp = compare_agent(AGENT, [trial("a", "not_run")], [trial("a")])
    assert (cmp.pairs, cmp.drop, cmp.base_pass_rate, cmp.regressed) == (0, None, None, False)
    assert cmp.cost.reason == "not measured"
