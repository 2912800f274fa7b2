"""Worker processes for a run's trials: real forks, real pipes, real exits."""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import pytest

from reconciler.errors import ExitCode, UsageError
from reconciler.evals import workers
from reconciler.evals.engine import EngineConfig, RateLimit
from reconciler.evals.workers import (
    Prewarmed,
    Tick,
    WorkerError,
    run_forked,
    share,
    slices,
    worker_count,
)

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


def test_worker_count_defaults_to_cores_for_big_replay_runs_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workers, "cores", lambda: 4)
    assert worker_count(None, 40, 50, cpu_bound=True) == 1  # too small to gain from a fork
    assert worker_count(None, 150, 50, cpu_bound=True) == 3  # 50 trials each at least
    assert worker_count(None, 10_000, 50, cpu_bound=True) == 4
    assert worker_count(None, 10_000, 2, cpu_bound=True) == 2  # never more than concurrency
    assert worker_count(None, 10_000, 50, cpu_bound=False) == 1  # waiting on a network
    assert worker_count(8, 3, 50, cpu_bound=False) == 3  # asked for, never more than trials
    assert worker_count(2, 3, 50, cpu_bound=True) == 2


def _echo(part: Sequence[int], config: EngineConfig, tick: Tick) -> bytes:
    for _ in part:
        tick()
    return f"{os.getpid()}:{config.concurrency}:{','.join(map(str, part))}".encode()


def test_each_part_runs_in_its_own_process_with_its_share() -> None:
    ticks: list[int] = []
    parts = slices(5, 2)
    config = EngineConfig(concurrency=5)
    jobs = [partial(_echo, part, share(config, 2, k)) for k, part in enumerate(parts)]
    payloads = run_forked(jobs, lambda: ticks.append(1))
    assert len(ticks) == 5
    decoded = [p.decode().split(":") for p in payloads if isinstance(p, bytes)]
    assert [d[2] for d in decoded] == ["0,2,4", "1,3"]  # each part's answer in its place
    assert [d[1] for d in decoded] == ["3", "2"]
    pids = {int(d[0]) for d in decoded}
    assert len(pids) == 2 and os.getpid() not in pids
    assert gc.get_freeze_count() == 0  # frozen for the fork only: this process collects again


def _dies_or_fails(which: int, tick: Tick) -> bytes:
    tick()
    if which == 0:
        os._exit(7)  # killed, say: no records, no goodbye
    if which == 1:
        raise ValueError("a bug in a worker")
    return b"fine"


def test_a_worker_that_dies_or_fails_is_reported_not_lost() -> None:
    payloads = run_forked([partial(_dies_or_fails, k) for k in range(3)], lambda: None)
    assert payloads[0] == "its worker process exited with code 7"
    assert payloads[1] == "its worker process failed: ValueError: a bug in a worker"
    assert payloads[2] == b"fine"


def _usage_error(_tick: Tick) -> bytes:
    raise UsageError("--mode live: live model calls need OPENAI_API_KEY in the environment")


def test_an_alm_error_in_a_worker_is_raised_in_the_parent_with_its_exit_code() -> None:
    with pytest.raises(WorkerError, match="OPENAI_API_KEY") as raised:
        run_forked([_usage_error, partial(_dies_or_fails, 2)], lambda: None)
    assert raised.value.exit_code == ExitCode.USAGE


def test_a_prewarmed_worker_warms_up_then_runs_what_it_is_sent(tmp_path: Path) -> None:
    warmed = tmp_path / "warmed"

    def run(data: bytes, tick: Tick) -> bytes:
        tick()
        return f"{warmed.read_text()}:{data.decode()}:{os.getpid()}".encode()

    warm = Prewarmed.start(lambda: warmed.write_text("ready"), run)
    ticks: list[int] = []
    answer = warm.submit(b"the trials", lambda: ticks.append(1))
    assert isinstance(answer, bytes)
    ready, data, pid = answer.decode().split(":")
    assert (ready, data, ticks) == ("ready", "the trials", [1])
    assert int(pid) != os.getpid()
    warm.discard()  # after a run: nothing left to let go, and no error


def test_a_prewarmed_worker_not_needed_is_stopped_and_runs_nothing(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    warm = Prewarmed.start(lambda: None, lambda data, tick: ran.write_text("ran") or b"")
    warm.discard()
    assert warm.worker.process.exitcode in (0, -signal.SIGKILL)  # stopped, not waited for
    assert not ran.exists()
