"""Worker processes for a run's trials: real forks, real pipes, real exits."""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence

import pytest

from reconciler.evals import workers
from reconciler.evals.engine import EngineConfig, RateLimit
from reconciler.evals.workers import Tick, run_forked, share, slices, worker_count

pytestmark = pytest.mark.skipif(not workers.can_fork(), reason="needs fork()")


def test_slices_interleave_and_cover_every_trial_once() -> None:
    parts = slices(7, 3)
    assert parts == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(i for part in parts for i in part) == list(range(7))


def test_shares_add_up_to_the_whole_concurrency_and_rate() -> None:
    config = EngineConfig(concurrency=7, rate_limits={"openai": RateLimit(10.0, burst=4)})
    parts = [share(config, 3, k) for k in range(3)]
    assert [p.concurrency for p in parts] == [3, 2, 2]
    assert sum(p.rate_limits["openai"].requests_per_s for p in parts) == pytest.approx(10.0)
    assert all(p.rate_limits["openai"].burst == 1 for p in parts)
    assert parts[0].retry == config.retry


def test_worker_count_defaults_to_cores_for_big_runs_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workers, "cores", lambda: 4)
    assert worker_count(None, 40, 50) == 1  # too small to gain from a fork
    assert worker_count(None, 150, 50) == 3  # 50 trials each at least
    assert worker_count(None, 10_000, 50) == 4
    assert worker_count(None, 10_000, 2) == 2  # never more workers than concurrency
    assert worker_count(8, 3, 50) == 3  # asked for, but never more than the trials
    assert worker_count(2, 3, 50) == 2


def _echo(part: Sequence[int], config: EngineConfig, tick: Tick) -> bytes:
    for _ in part:
        tick()
    return f"{os.getpid()}:{config.concurrency}:{','.join(map(str, part))}".encode()


def test_each_part_runs_in_its_own_process_with_its_share() -> None:
    ticks: list[int] = []
    parts = slices(5, 2)
    payloads = run_forked(_echo, parts, EngineConfig(concurrency=5), lambda: ticks.append(1))
    assert len(ticks) == 5
    decoded = [p.decode().split(":") for p in payloads if isinstance(p, bytes)]
    assert [d[2] for d in decoded] == ["0,2,4", "1,3"]  # each part's answer in its place
    assert [d[1] for d in decoded] == ["3", "2"]
    pids = {int(d[0]) for d in decoded}
    assert len(pids) == 2 and os.getpid() not in pids
    assert gc.get_freeze_count() == 0  # frozen for the fork only: this process collects again


def _dies_or_fails(part: Sequence[int], _config: EngineConfig, tick: Tick) -> bytes:
    tick()
    if part[0] == 0:
        os._exit(7)  # killed, say: no records, no goodbye
    if part[0] == 1:
        raise ValueError("a bug in a worker")
    return b"fine"


def test_a_worker_that_dies_or_fails_is_reported_not_lost() -> None:
    payloads = run_forked(_dies_or_fails, slices(3, 3), EngineConfig(concurrency=3), lambda: None)
    assert payloads[0] == "its worker process exited with code 7"
    assert payloads[1] == "its worker process failed: ValueError: a bug in a worker"
    assert payloads[2] == b"fine"
