"""Canary analysis: tasks bucketed by time, paired buckets compared with the gate's
one-sided sign-flip test; promote, hold or roll back, with the numbers behind it."""

from __future__ import annotations

import random

import pytest

from reconciler.ops import canary
from reconciler.ops.canary import HOUR_NS, Settings, analyse
from reconciler.ops.model import Window

START = 1_760_000_000 * 1_000_000_000
DAY = Window(START, START + 24 * HOUR_NS)
Tasks = list[tuple[int, bool]]


def traffic(rates: list[float], per_hour: int, seed: int) -> Tasks:
    """per_hour tasks in each hour, passing with that hour's rate (seeded)."""
    rng = random.Random(seed)
    tasks: Tasks = []
    for hour, rate in enumerate(rates):
        for i in range(per_hour):
            at = START + hour * HOUR_NS + i * (HOUR_NS // per_hour)
            tasks.append((at, rng.random() < rate))
    return tasks


def test_tasks_are_counted_in_their_bucket_and_outside_ones_dropped() -> None:
    window = Window(START, START + 2 * HOUR_NS + 1)  # the last bucket is 1 ns long
    canary_tasks = [(START, True), (START + HOUR_NS - 1, False), (START - 1, True)]
    stable_tasks = [(START + HOUR_NS, True), (START + 2 * HOUR_NS, False), (window.end_ns, True)]
    cut = canary.buckets(canary_tasks, stable_tasks, window)
    assert [(b.start_ns - START) // HOUR_NS for b in cut] == [0, 1, 2]
    assert [(b.canary_tasks, b.canary_passed, b.stable_tasks, b.stable_passed) for b in cut] == [
        (2, 1, 0, 0),
        (0, 0, 1, 1),
        (0, 0, 1, 0),
    ]
    assert not any(b.paired for b in cut)
    with pytest.raises(ValueError, match="positive"):
        canary.buckets([], [], window, 0)


def test_a_canary_as_good_as_stable_is_promoted() -> None:
    verdict = analyse(traffic([0.95] * 24, 5, 1), traffic([0.95] * 24, 45, 2), DAY)
    assert verdict.decision == "promote", verdict.reason
    assert (verdict.canary_tasks, verdict.stable_tasks, verdict.paired) == (120, 1080, 24)
    assert verdict.p_value is not None and verdict.p_value >= 0.05
    assert verdict.reason.startswith("the canary is not worse beyond the tolerance: success ")
    assert "over 24 paired hours" in verdict.reason and "(tolerance 5.0)" in verdict.reason


def test_a_worse_canary_is_rolled_back() -> None:
    verdict = analyse(traffic([0.6] * 24, 5, 3), traffic([0.95] * 24, 45, 4), DAY)
    assert verdict.decision == "rollback"
    assert verdict.drop is not None and verdict.drop > 0.2
    assert verdict.p_value is not None and verdict.p_value < 0.001
    assert verdict.reason.startswith("the canary is worse: success ")
    assert f"{verdict.drop * 100:.1f} points lower" in verdict.reason


def test_too_few_canary_tasks_hold() -> None:
    verdict = analyse(traffic([0.95] * 24, 1, 5), traffic([0.95] * 24, 20, 6), DAY)
    assert verdict.decision == "hold"
    assert verdict.reason.startswith("24 canary task(s), 50 needed before a promotion")
    relaxed = analyse(
        traffic([0.95] * 24, 1, 5), traffic([0.95] * 24, 20, 6), DAY, Settings(min_samples=24)
    )
    assert relaxed.decision == "promote"


def test_a_drop_on_too_few_intervals_is_inconclusive() -> None:
    verdict = analyse(  # two paired hours only
        traffic([0.5, 0.5], 40, 7), traffic([0.95, 0.95], 40, 8), DAY, Settings(min_samples=10)
    )
    assert verdict.paired == 2 and verdict.drop is not None and verdict.drop > 0.3
    assert verdict.p_value == 0.25  # 2 paired differences: 1 of 4 sign assignments
    assert verdict.decision == "hold"
    assert verdict.reason.startswith("inconclusive: the canary may be worse, not significantly")


def test_a_must_never_violation_rolls_back_whatever_the_rates() -> None:
    verdict = analyse(
        traffic([0.95] * 24, 5, 1), traffic([0.95] * 24, 45, 2), DAY, violations=["ab" * 16]
    )
    assert verdict.decision == "rollback"
    assert verdict.reason == (
        f"the canary broke a must-never rule in 1 task(s) (e.g. trace {'ab' * 16})"
    )


def test_no_overlap_with_stable_traffic_holds() -> None:
    verdict = analyse(traffic([0.2] * 24, 5, 1), [], DAY)
    assert verdict.decision == "hold" and verdict.p_value is None and verdict.drop is None
    assert verdict.reason == (
        "no hour of the window had tasks of both revisions "
        "(canary 120, stable 0 task(s)): nothing to compare"
    )
    minutes = analyse([], [], DAY, Settings(bucket_ns=HOUR_NS // 4))
    assert "no 15-minute interval of the window" in minutes.reason
    assert len(minutes.buckets) == 96


def test_pairing_by_time_removes_what_the_hour_does_to_both() -> None:
    """Hard hours (even) and easy ones (odd) treat both revisions alike; the canary got
    its traffic mostly in hard hours. Pooled, it looks 35 points worse; paired by hour, it
    is as good as stable, and is promoted."""
    canary_tasks: Tasks = []
    stable_tasks: Tasks = []
    for hour in range(24):
        hard = hour % 2 == 0
        at = START + hour * HOUR_NS
        many, few = (20, 4) if hard else (4, 20)
        canary_tasks += [(at + i, i < (many // 2 if hard else many)) for i in range(many)]
        stable_tasks += [(at + i, i < (few // 2 if hard else few)) for i in range(few)]
    verdict = analyse(canary_tasks, stable_tasks, DAY)
    assert verdict.canary_rate is not None and verdict.stable_rate is not None
    assert verdict.stable_rate - verdict.canary_rate > 0.25  # pooled: the canary looks worse
    assert verdict.drop == 0 and verdict.decision == "promote"


def test_the_verdict_is_the_same_every_run() -> None:
    one = analyse(traffic([0.8] * 24, 5, 9), traffic([0.9] * 24, 45, 10), DAY)
    two = analyse(traffic([0.8] * 24, 5, 9), traffic([0.9] * 24, 45, 10), DAY)
    assert one == two
