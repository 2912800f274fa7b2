"""run_trials on the example fleet: the same records from one process or several, graded
as they finish (no trajectory outlives its trial), and a live run that cannot start fails
once, before any worker is forked."""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.errors import AlmError, ExitCode, UsageError
from reconciler.evals import trials, workers
from reconciler.evals.engine import EngineConfig
from reconciler.evals.run import plan_jobs
from reconciler.evals.trials import run_trials
from reconciler.evals.types import Trajectory
from reconciler.spec.loader import load_worktree
from tests.gitrepo import PROJECT, GitRepo, drop_cassettes
from tests.openai_server import OpenAIServer

AGENT = "email-drafting"

needs_fork = pytest.mark.skipif(not workers.can_fork(), reason="needs fork()")


@needs_fork
def test_two_workers_give_the_records_one_process_gives(fleet_repo: GitRepo) -> None:
    state = load_worktree(fleet_repo.path, {})
    planned = plan_jobs(state)
    config = EngineConfig(concurrency=4)
    done: list[int] = []
    alone = run_trials(fleet_repo.path, planned, "replay", config, workers=1)
    split = run_trials(
        fleet_repo.path, planned, "replay", config, lambda d, _t: done.append(d), workers=2
    )
    assert len(alone.records) == len(planned) > 20
    assert split.records == alone.records  # in plan order, field for field
    assert split.model_calls == alone.model_calls > 0
    assert sorted(done) == list(range(1, len(planned) + 1))  # every worker's progress
    assert {r.status for r in split.records} >= {"passed"}


def _trajectories() -> int:
    """Live Trajectory objects, counted in C (an isinstance loop over a long-lived test
    worker's heap after every trial took 19 s of the suite)."""
    return list(map(type, gc.get_objects())).count(Trajectory)


def test_trials_are_graded_as_they_finish_so_memory_stays_flat(fleet_repo: GitRepo) -> None:
    state = load_worktree(fleet_repo.path, {})
    planned = plan_jobs(state)
    live: list[int] = []

    def count_trajectories(_done: int, _total: int) -> None:
        live.append(_trajectories())

    gc.collect()
    before = _trajectories()
    ran = run_trials(
        fleet_repo.path, planned, "replay", EngineConfig(concurrency=2), count_trajectories, 1
    )
    assert len(live) == len(planned) == len(ran.records)
    # at most the trials in flight (and the one just graded) hold a trajectory
    assert max(live) - before <= 3


@needs_fork
def test_a_live_run_without_a_key_fails_once_before_forking(
    fleet_repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    planned = plan_jobs(load_worktree(fleet_repo.path, {}))
    forked: list[int] = []
    monkeypatch.setattr(trials, "run_forked", lambda *args: forked.append(1))
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        run_trials(Path(fleet_repo.path), planned, "live", EngineConfig(concurrency=4), None, 2)
    assert not forked


@needs_fork
def test_a_prewarmed_worker_runs_a_live_run_as_this_process_would(
    fleet_repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = [{"content": "Drafted DR-3f9a12c0 for Joanna."}]
    planned = [p for p in plan_jobs(load_worktree(fleet_repo.path, {})) if p.spec.name == AGENT]
    config = EngineConfig(concurrency=2)
    with OpenAIServer(steps) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("ALM_OPENAI_BASE_URL", server.base_url)
        warm = trials.prewarm("live")
        assert warm is not None
        sent: list[int] = []
        submit = warm.submit
        monkeypatch.setattr(warm, "submit", lambda data, tick: sent.append(1) or submit(data, tick))
        done: list[int] = []
        tick = lambda d, _t: done.append(d)  # noqa: E731
        early = run_trials(fleet_repo.path, planned, "live", config, tick, 1, warm)
        here = run_trials(fleet_repo.path, planned, "live", config, None, 1)
    assert [r.status for r in early.records] == [r.status for r in here.records]
    assert [r.outcome for r in early.records] == [r.outcome for r in here.records]
    assert early.model_calls == here.model_calls == len(planned) > 0
    assert sorted(done) == list(range(1, len(planned) + 1))
    assert sent == [1] and warm.worker.process.exitcode == 0  # the worker ran them


@needs_fork
def test_a_prewarmed_live_run_without_a_key_is_a_usage_error(
    fleet_repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    planned = plan_jobs(load_worktree(fleet_repo.path, {}))
    warm = trials.prewarm("live")
    with pytest.raises(AlmError, match="OPENAI_API_KEY") as raised:
        run_trials(fleet_repo.path, planned, "live", EngineConfig(), None, 1, warm)
    assert raised.value.exit_code == ExitCode.USAGE


def test_no_worker_is_prewarmed_for_a_replay_run() -> None:
    assert trials.prewarm("replay") is None


_FORKS: list[int] = []  # every fork this test process makes, seen by os itself
os.register_at_fork(before=lambda: _FORKS.append(1))


def _many_trials(repo: GitRepo) -> None:
    """Every suite at 10 repeats: well over a hundred trials."""
    for suite in sorted((repo.path / "evals").glob("*/*.yaml")):
        text = re.sub(r"(?m)^(\s*)repeats: \d+$", r"\1repeats: 10", suite.read_text("utf-8"))
        assert "repeats: 10" in text, suite
        suite.write_text(text, "utf-8")


@needs_fork
def test_a_replay_run_with_no_cassette_forks_no_worker(fleet_repo: GitRepo) -> None:
    """No trial can run, so workers would only cost their start-up: the run stays in this
    process (os saw no fork), asked for two workers or by default, with the records a
    run in one process gives."""
    _many_trials(fleet_repo)
    drop_cassettes(fleet_repo)
    planned = plan_jobs(load_worktree(fleet_repo.path, {}))
    trial_list = [p.trial for p in planned]
    assert trials.runnable(fleet_repo.path, trial_list, "replay") == 0
    assert trials.runnable(fleet_repo.path, trial_list, "record") == len(planned) >= 100
    config = EngineConfig(concurrency=8)
    alone = run_trials(fleet_repo.path, planned, "replay", config, workers=1)
    forks = len(_FORKS)
    split = run_trials(fleet_repo.path, planned, "replay", config, workers=2)
    default = run_trials(fleet_repo.path, planned, "replay", config)
    assert len(_FORKS) == forks
    assert split.records == default.records == alone.records  # in plan order, field for field
    assert {(r.status, r.reason[:30]) for r in alone.records} == {
        ("not_run", "not recorded: no cassette for ")
    }


@needs_fork
def test_a_replay_run_forks_for_the_agents_that_have_cassettes(fleet_repo: GitRepo) -> None:
    _many_trials(fleet_repo)
    for cassette in (fleet_repo.path / "evals").glob("*/cassettes/*.json"):
        if cassette.parent.parent.name != AGENT:
            cassette.unlink()
    planned = plan_jobs(load_worktree(fleet_repo.path, {}))
    mine = sum(p.spec.name == AGENT for p in planned)
    assert trials.runnable(fleet_repo.path, [p.trial for p in planned], "replay") == mine > 1
    forks = len(_FORKS)
    split = run_trials(fleet_repo.path, planned, "replay", EngineConfig(concurrency=8), workers=2)
    assert len(_FORKS) == forks + 2
    assert any(r.graded for r in split.records)


_CHECK_LIVE = """
import json, os, sys
from pathlib import Path
from reconciler.errors import UsageError
from reconciler.evals import trials
from reconciler.evals.run import plan_jobs
from reconciler.spec.loader import load_worktree

planned = [p.trial for p in plan_jobs(load_worktree(Path(sys.argv[1]), {}))]
trials._check_live("live", planned)  # the key is set: no error
os.environ.pop("OPENAI_API_KEY")
try:
    trials._check_live("record", planned)
    said = None
except UsageError as exc:
    said = [exc.message, int(exc.exit_code)]
print(json.dumps({"said": said, "openai": "openai" in sys.modules}))
"""


def test_the_live_check_before_a_fork_imports_no_client(fleet_repo: GitRepo) -> None:
    """In a fresh interpreter: the check finds a key or says it is missing (exit code 2,
    the message the client itself gives) without importing openai to build a client."""
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    done = subprocess.run(
        [sys.executable, "-c", _CHECK_LIVE, str(fleet_repo.path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT,
        check=True,
    )
    said = json.loads(done.stdout)
    assert said["said"] == [
        "--mode record: live model calls need OPENAI_API_KEY in the environment",
        int(ExitCode.USAGE),
    ]
    assert said["openai"] is False


def test_merge_puts_every_part_in_plan_order_and_never_drops_a_trial(
    fleet_repo: GitRepo,
) -> None:
    trial_list = [p.trial for p in plan_jobs(load_worktree(fleet_repo.path, {}))][:5]
    parts = workers.slices(len(trial_list), 2)
    merged = trials._merge(trial_list, parts, ["it died", "it died too"])
    assert [(r.case_id, r.trial) for r in merged.records] == [
        (t.job.case.id, t.job.trial) for t in trial_list
    ]
    assert [r.reason for r in merged.records] == [
        "not run: it died",
        "not run: it died too",
    ] * 2 + ["not run: it died"]
    with pytest.raises(KeyError):  # a part missing (a bug): raised, not a shorter run
        trials._merge(trial_list, parts[:1], ["it died"])
