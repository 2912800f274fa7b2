"""Canary buckets are sparse (reconciler.ops.canary.Buckets): only the intervals with tasks
are made, so a window from 1970 (~500,000 hours) or to 2262 (~2.5 million) over a handful of
tasks costs what the tasks cost. Before, every hour of the window was a list and a Bucket:
--since 1970-01-01 took ~120 MiB and seconds of CPU, a window to 2262 ~630 MiB."""

from __future__ import annotations

import json
import random
import time
import tracemalloc

import pytest

from reconciler.ops import canary
from reconciler.ops.canary import HOUR_NS, Bucket, Settings, analyse
from reconciler.ops.model import MAX_NS, Window
from tests.cli import run
from tests.gitrepo import GitRepo
from tests.test_cli_ops_canary import AGENT, HOURS, deploy_twice, repo, traffic

__all__ = ["repo"]  # the fixture, shared with tests/test_cli_ops_canary.py
MiB = 1 << 20
NOW = time.time_ns()


def handful(seed: int, count: int = 6) -> list[tuple[int, bool]]:
    rng = random.Random(seed)
    return [(NOW - rng.randrange(48) * HOUR_NS, rng.random() < 0.9) for _ in range(count)]


@pytest.mark.parametrize(
    ("window", "bucket_ns"),
    [(Window(0, NOW), HOUR_NS), (Window(0, MAX_NS), HOUR_NS), (Window(0, MAX_NS), 60 * 10**9)],
    ids=["1970-to-now", "1970-to-2262", "1970-to-2262-by-minute"],
)
def test_a_window_from_1970_over_a_handful_of_tasks_makes_a_handful_of_buckets(
    window: Window, bucket_ns: int
) -> None:
    tracemalloc.start()
    try:
        verdict = analyse(handful(1), handful(2), window, Settings(bucket_ns=bucket_ns))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(verdict.buckets) == -(-(window.end_ns - window.start_ns) // bucket_ns) > 400_000
    assert len(verdict.buckets.active) <= 12  # one per task at most
    assert peak < MiB  # the dense cut held a list and a Bucket per hour: >100 MiB
    assert verdict.canary_tasks == verdict.stable_tasks == 6
    assert verdict.buckets[0] == Bucket(window.start_ns)  # an empty one, made when asked


def test_sparse_buckets_read_as_the_whole_window() -> None:
    window = Window(NOW - 6 * HOUR_NS, NOW + 1)  # the last bucket is 1 ns long
    cut = canary.buckets([(NOW - 5 * HOUR_NS, True)], [(NOW, False)], window)
    assert len(cut) == 7 and [b.start_ns for b in cut] == [
        window.start_ns + i * HOUR_NS for i in range(7)
    ]
    assert cut[1] == Bucket(window.start_ns + HOUR_NS, canary_tasks=1, canary_passed=1)
    assert cut[-1] == cut[6] == Bucket(window.start_ns + 6 * HOUR_NS, stable_tasks=1)
    assert list(cut[1:3]) == [cut[1], Bucket(window.start_ns + 2 * HOUR_NS)]
    assert cut.active == (cut[1], cut[6])
    with pytest.raises(IndexError):
        cut[7]
    same = canary.buckets([(NOW - 5 * HOUR_NS, True)], [(NOW, False)], window)
    assert same == cut and hash(same) == hash(cut)


def test_promote_canary_since_1970_lists_the_hours_with_tasks_and_decides_the_same(
    capsys: pytest.CaptureFixture[str], repo: GitRepo
) -> None:
    stable, canary_revision = deploy_twice(capsys, repo)
    db = traffic(capsys, repo, {canary_revision: (6, 0), stable: (10, 0)})
    base = ("-C", str(repo.path), "ops", "promote-canary", AGENT, "--env", "prod", "--db",
            str(db), "--dry-run", "--format", "json")  # fmt: skip
    code, out, err = run(capsys, *base, "--hours", str(HOURS))
    assert code == 0, err
    recent = json.loads(out)
    assert recent["intervals"] == len(recent["buckets"]) == HOURS  # every hour listed
    code, out, err = run(capsys, *base, "--since", "1970-01-01")
    assert code == 0, err
    ever = json.loads(out)
    assert ever["intervals"] > 400_000  # counted, not listed
    assert 0 < len(ever["buckets"]) <= HOURS + 1  # the hours with tasks
    assert all(b["canary"][1] or b["stable"][1] for b in ever["buckets"])
    keys = ("decision", "canary_tasks", "stable_tasks")
    assert [ever[k] for k in keys] == [recent[k] for k in keys]
    assert 0 < ever["paired_intervals"] <= len(ever["buckets"])  # hours cut from 1970
    code, out, _ = run(capsys, *base[:-2], "--since", "1970-01-01")  # the text form
    assert code == 0 and "verdict: promote" in out and "earlier interval" not in out
