from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import pytest

from reconciler.evals.signflip import lower_tail, upper_tail


def brute_force(diffs: Sequence[int]) -> float:
    """Every sign assignment of the non-zero differences, counted one by one."""
    magnitudes = [abs(d) for d in diffs if d]
    observed = sum(diffs)
    signs = itertools.product((1, -1), repeat=len(magnitudes))
    hits = sum(
        sum(s * m for s, m in zip(flip, magnitudes, strict=True)) <= observed for flip in signs
    )
    return hits / 2 ** len(magnitudes)


@pytest.mark.parametrize(
    ("diffs", "p"),
    [
        ([], 1.0),  # nothing differs
        ([0, 0, 0], 1.0),
        ([-1], 0.5),  # one drop: as likely as a rise
        ([-1] * 5, 1 / 32),  # every one of 5 drops: only 1 of 32 assignments is as low
        ([-1] * 4, 1 / 16),  # 0.0625: not significant at 0.05
        ([-1] * 6 + [0] * 100, 1 / 64),  # ties (zeros) do not count
        ([-1, -1, 1], 0.5),  # sums <= -1 of 3 unit signs: 4 of 8
        ([-3, 1], 0.5),  # T = -2: (-3, -1) and (-3, 1) of 4
        ([-3, -1, 2], 0.375),  # T = -2: (-3,-1,-2) -6, (-3,1,-2) -4, (-3,-1,2) -2 of 8
        ([1, 1, 1], 1.0),
    ],
)
def test_exact_p_values_of_small_hand_cases(diffs: list[int], p: float) -> None:
    result = lower_tail(diffs)
    assert result.exact and result.p_value == p == brute_force(diffs)


def test_exact_agrees_with_every_assignment_counted() -> None:
    rng = random.Random(7)
    for _ in range(200):
        diffs = [rng.randint(-4, 4) for _ in range(rng.randint(1, 12))]
        assert lower_tail(diffs).p_value == brute_force(diffs), diffs


def test_few_large_differences_are_counted_exactly_too() -> None:
    rng = random.Random(9)
    for n in (1, 5, 12):
        latencies_us = [rng.randint(-3_000_000, 3_000_000) for _ in range(n)]
        result = lower_tail(latencies_us)
        assert result.exact and result.p_value == brute_force(latencies_us)
    assert lower_tail([rng.randint(-3_000_000, 3_000_000) for _ in range(24)]).exact


def test_upper_tail_is_the_lower_tail_of_the_negated_differences() -> None:
    assert upper_tail([3, 1, -2]).p_value == lower_tail([-3, -1, 2]).p_value == 0.375


def test_monte_carlo_is_seeded_and_close_to_exact() -> None:
    rng = random.Random(3)
    diffs = [rng.choice([-3, -2, -1, 0, 0, 1, 2, 3]) for _ in range(300)]
    exact = lower_tail(diffs)
    one = lower_tail(diffs, exact_budget_bits=0)
    two = lower_tail(diffs, exact_budget_bits=0)
    other_seed = lower_tail(diffs, exact_budget_bits=0, seed=1)
    assert exact.exact and not one.exact and one.draws == 20_000
    assert one == two  # the same seed, the same p
    assert one.p_value != other_seed.p_value
    assert one.p_value == pytest.approx(exact.p_value, abs=0.01)


def test_monte_carlo_p_value_is_never_zero() -> None:
    result = lower_tail([-1] * 200, exact_budget_bits=0, draws=1000)
    assert result.p_value == 1 / 1001  # (1 + hits) / (1 + draws): a valid p-value


def test_large_magnitudes_use_monte_carlo() -> None:
    rng = random.Random(5)
    latencies_us = [rng.randint(-2_000_000, 1_000_000) for _ in range(200)]
    result = upper_tail(latencies_us)
    assert not result.exact and result.nonzero == 200 and result.p_value > 0.5
