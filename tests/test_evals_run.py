"""plan_jobs and run_evals on a real git repository, with the openai client against a
local OpenAI-compatible server (record) and cassettes (replay)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import UsageError
from reconciler.evals.engine import EngineConfig
from reconciler.evals.results import Selection, Shard
from reconciler.evals.run import plan_jobs, run_evals
from reconciler.spec.loader import load_worktree
from reconciler.spec.state import DesiredState
from tests.gitrepo import GitRepo, drop_cassettes
from tests.openai_server import OpenAIServer

AGENT = "email-drafting"


def _state(repo: GitRepo) -> DesiredState:
    return load_worktree(repo.path, {})


def test_plan_has_one_job_per_trial_sharing_prices_and_catalog(fleet_repo: GitRepo) -> None:
    fleet_repo.replace("evals/email-drafting/drafts.yaml", "repeats: 1", "repeats: 3")
    state = _state(fleet_repo)
    jobs = plan_jobs(state, [AGENT])
    assert len(jobs) == 15  # 5 cases x 3 repeats
    assert {j.job.trial for j in jobs} == {0, 1, 2}
    assert len({id(j.job.prices) for j in jobs}) == 1
    assert len({id(j.job.catalog) for j in jobs}) == 1
    assert len(plan_jobs(state)) > len(jobs)


def test_shards_partition_cases_and_keep_trials_together(fleet_repo: GitRepo) -> None:
    fleet_repo.replace("evals/email-drafting/drafts.yaml", "repeats: 1", "repeats: 2")
    state = _state(fleet_repo)
    whole = {(j.spec.name, j.suite, j.job.case.id, j.job.trial) for j in plan_jobs(state)}
    parts = [
        {(j.spec.name, j.suite, j.job.case.id, j.job.trial) for j in plan_jobs(state, None, s)}
        for s in (Shard(1, 3), Shard(2, 3), Shard(3, 3))
    ]
    assert set().union(*parts) == whole
    assert sum(len(p) for p in parts) == len(whole)
    for part in parts:
        cases = {key[:3] for key in part}
        assert all((*case, t) in part for case in cases for t in (0, 1) if case[0] == AGENT)


def test_record_then_replay_then_cache(
    fleet_repo: GitRepo, server: OpenAIServer, tmp_path: Path
) -> None:
    drop_cassettes(fleet_repo)
    root = fleet_repo.path
    state = _state(fleet_repo)
    jobs = plan_jobs(state, [AGENT])
    recorded = run_evals(root, state, jobs, "record", EngineConfig(concurrency=4), None)
    assert recorded.model_calls == len(jobs) == len(server.requests) == 5
    assert all(c.graded for c in recorded.results.cases)
    assert len(list((root / "evals" / AGENT / "cassettes").glob("*.json"))) == 5

    replayed = run_evals(root, state, jobs, "replay", EngineConfig(concurrency=4), None)
    assert len(server.requests) == 5  # replay never calls the server
    statuses = {c.key: c.status for c in replayed.results.cases}
    assert statuses == {c.key: c.status for c in recorded.results.cases}

    cache = tmp_path / "cache.sqlite"
    first = run_evals(root, state, jobs, "record", EngineConfig(concurrency=4), cache)
    assert (first.ran, first.cached, len(server.requests)) == (5, 0, 10)
    second = run_evals(root, state, jobs, "record", EngineConfig(concurrency=4), cache)
    assert (second.ran, second.cached, second.model_calls) == (0, 5, 0)
    assert len(server.requests) == 10  # an unchanged agent makes zero model calls
    assert second.results.cases == first.results.cases


def test_missing_cassette_is_not_run_and_never_cached(fleet_repo: GitRepo, tmp_path: Path) -> None:
    drop_cassettes(fleet_repo)
    state = _state(fleet_repo)
    jobs = plan_jobs(state, [AGENT])
    cache = tmp_path / "cache.sqlite"
    run = run_evals(fleet_repo.path, state, jobs, "replay", EngineConfig(concurrency=2), cache)
    assert all(c.status == "not_run" for c in run.results.cases)
    assert all(c.reason.startswith("not recorded") for c in run.results.cases)
    assert not run.results.agents[0].gate.passed
    assert (run.ran, run.not_run, run.model_calls) == (0, 5, 0)  # none ran: none counted run
    again = run_evals(fleet_repo.path, state, jobs, "replay", EngineConfig(concurrency=2), cache)
    assert (again.cached, again.ran, again.not_run) == (0, 0, 5)


def test_an_agent_without_trials_is_still_in_the_results(fleet_repo: GitRepo) -> None:
    """A shard holding none of an agent's cases, or an agent with no suite, still reports
    the agent (0 trials, gate not measured): merge and the verdict see the whole fleet."""
    state = _state(fleet_repo)
    names = ["email-drafting", "sales-research"]
    jobs = [j for j in plan_jobs(state, names) if j.spec.name == AGENT]
    run = run_evals(fleet_repo.path, state, jobs, "replay", agents=names)
    assert [a.agent for a in run.results.agents] == names
    research = run.results.agent("sales-research")
    assert research is not None
    assert research.metrics.overall.trials == 0 and research.gate.status == "not_measured"
    assert {c.agent for c in run.results.cases} == {AGENT}


def test_case_accepts_suite_slash_case_id(fleet_repo: GitRepo) -> None:
    state = _state(fleet_repo)
    ids = ["drafts/discount-offer-escalates", "drafts/crm-*"]
    jobs = plan_jobs(state, [AGENT], selection=Selection(cases=tuple(ids)))
    assert [(j.suite, j.job.case.id) for j in jobs] == [
        ("drafts", "discount-offer-escalates"),
        ("drafts", "crm-down-no-guessing"),
    ]
    assert plan_jobs(state, [AGENT], selection=Selection(cases=("other/*",))) == []


def test_an_unknown_agent_is_a_usage_error(fleet_repo: GitRepo) -> None:
    with pytest.raises(UsageError, match="no agent named nobody; known: email-drafting, "):
        plan_jobs(_state(fleet_repo), ["nobody"])
