"""Plan and run an eval: the desired state's cases as trials, cached, run, graded, scored.

``plan_jobs`` turns a desired state into one PlannedJob (a CaseJob and what is needed to
record it) per (agent, suite, case, trial), with each case's effective repeats. A shard
``i/n`` keeps the cases whose hash of (agent, suite, case id) falls in bucket ``i``, so
every trial of a case lands in the same shard.

``run_evals`` answers what it can from the SQLite cache, runs the rest on the engine
(cassettes in ``evals/<agent>/cassettes``), grades and records every trial, stores the
trials that ran (never a not-run one) and builds the Results.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pydantic import TypeAdapter

from reconciler.errors import UsageError
from reconciler.evals.bundle import Shared, case_hash, run_hash
from reconciler.evals.cache import ResultCache, TrialKey, open_cache
from reconciler.evals.engine import EngineConfig
from reconciler.evals.inputs import run_inputs
from reconciler.evals.providers import Mode
from reconciler.evals.records import CaseResult, effective_repeats, effective_tags
from reconciler.evals.results import (
    AgentResult,
    Results,
    RunInfo,
    Selection,
    Shard,
    agent_result,
    build,
)
from reconciler.evals.scope import admits
from reconciler.evals.trials import PlannedJob, RunProgress, run_trials
from reconciler.evals.types import CaseJob
from reconciler.evals.workers import Prewarmed
from reconciler.pricing import PriceBook
from reconciler.spec.state import AgentSpec, DesiredState

__all__ = ["EvalRun", "PlannedJob", "RunProgress", "cache_key", "plan_jobs", "run_evals"]


@dataclass(frozen=True)
class EvalRun:
    results: Results
    model_calls: int  # model calls made by the trials that ran (0 when all were cached)
    cached: int  # trials answered from the cache
    ran: int  # trials run and graded
    not_run: int  # trials that could not run (not recorded, timed out, interrupted, ...)


def in_shard(agent: str, suite: str, case_id: str, shard: Shard | None) -> bool:
    if shard is None:
        return True
    digest = hashlib.sha256(f"{agent}\0{suite}\0{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % shard.count == shard.index - 1


def plan_jobs(
    state: DesiredState,
    agents: list[str] | None = None,
    shard: Shard | None = None,
    selection: Selection | None = None,
) -> list[PlannedJob]:
    """The trials of the selected agents (all when None) and cases, in a stable order."""
    known = {spec.name for spec in state.agents}
    unknown = sorted(set(agents or ()) - known)
    if unknown:
        raise UsageError(f"no agent named {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    prices = PriceBook(p for doc in state.pricing for p in doc.model.models)
    shared = Shared(state)
    planned: list[PlannedJob] = []
    for spec in sorted(state.agents, key=lambda s: s.name):
        if agents is None or spec.name in agents:
            planned.extend(_agent_jobs(spec, state, prices, shared, shard, selection))
    return planned


def _agent_jobs(
    spec: AgentSpec,
    state: DesiredState,
    prices: PriceBook,
    shared: Shared,
    shard: Shard | None,
    selection: Selection | None,
) -> list[PlannedJob]:
    bundle = run_hash(spec, state, shared)
    catalog = shared.tools
    prompt = spec.prompt.text if spec.prompt else ""
    jobs = []
    for loaded in sorted(state.suites.get(spec.folder, []), key=lambda s: s.model.metadata.name):
        suite = loaded.model
        name = suite.metadata.name
        for case in suite.cases:
            tags = effective_tags(suite, case)
            if not in_shard(spec.name, name, case.id, shard):
                continue
            if selection is not None and not admits(selection, name, case.id, tags):
                continue
            repeats = effective_repeats(suite, case)
            digest = case_hash(case)
            for trial in range(repeats):
                job = CaseJob(spec.agent, prompt, catalog, case, prices, trial)
                jobs.append(PlannedJob(spec, name, job, repeats, tags, digest, bundle))
    return jobs


@cache
def _record_adapter() -> TypeAdapter[CaseResult]:
    return TypeAdapter(CaseResult)


CACHE_FORMAT = 2  # 2: latency is recorded model latency, never wall time


def cache_key(planned: PlannedJob, mode: str, recordings: str = "") -> TrialKey:
    """What a cached trial must match to be reused; ``recordings`` is the digest of the
    files a result also depends on (RUN_INPUTS: a builtin agent's cassettes in replay, a
    command agent's code)."""
    agent = planned.spec.agent
    provider = f"v{CACHE_FORMAT}:{mode}:{agent.model.provider}/{agent.model.name}"
    if recordings:
        provider += f":inputs={recordings}"
    return TrialKey(
        planned.run_hash, planned.case_hash, planned.job.trial, agent.runtime.type, provider
    )


def _from_cache(
    store: ResultCache | None, planned: PlannedJob, mode: str, inputs: str | None
) -> CaseResult | None:
    if store is None or inputs is None:
        return None
    text = store.get(cache_key(planned, mode, inputs))
    return None if text is None else _record_adapter().validate_json(text)


def run_evals(
    root: Path,
    state: DesiredState,
    jobs: Sequence[PlannedJob],
    mode: Mode = "replay",
    config: EngineConfig | None = None,
    cache_path: Path | None = None,
    progress: RunProgress | None = None,
    *,
    ref: str | None = None,
    commit: str | None = None,
    shard: Shard | None = None,
    selection: Selection | None = None,
    agents: Sequence[str] | None = None,
    workers: int | None = None,
    warm: Prewarmed | None = None,
) -> EvalRun:
    """Run (or fetch from the cache) every planned trial; grade, record and score them.
    ``agents`` are the agents to report, with or without trials (an agent with no suite,
    or none of its cases in this shard, is still in the results; default: those with a
    trial). ``workers``: processes to run the trials in (None: one per core for a big
    replay run, else one); ``warm``: a worker started early (trials.prewarm)."""
    with open_cache(cache_path) as store:
        recordings = run_inputs(root, [p.spec.agent for p in jobs], mode)
        cached = {
            i: r
            for i, p in enumerate(jobs)
            if (r := _from_cache(store, p, mode, recordings[p.spec.agent.name]))
        }
        todo = [jobs[i] for i in range(len(jobs)) if i not in cached]
        ran = run_trials(root, todo, mode, config or EngineConfig(), progress, workers, warm)
        fresh = list(zip(todo, ran.records, strict=True))
        if store is not None:
            recordings = run_inputs(
                root, [p.spec.agent for p in jobs], mode
            )  # after the run: what it recorded
            for planned, result in fresh:
                inputs = recordings[planned.spec.agent.name]
                if result.graded and inputs is not None:
                    key = cache_key(planned, mode, inputs)
                    store.put(key, _record_adapter().dump_json(result).decode())
    records = [*cached.values(), *(r for _, r in fresh)]
    results = build(
        RunInfo(ref=ref, commit=commit, mode=mode, shard=shard, selection=selection),
        _agent_results(state, jobs, records, agents),
        records,
    )
    graded = sum(r.graded for _, r in fresh)
    return EvalRun(results, ran.model_calls, len(cached), graded, len(fresh) - graded)


def _agent_results(
    state: DesiredState,
    jobs: Sequence[PlannedJob],
    records: Sequence[CaseResult],
    agents: Sequence[str] | None,
) -> list[AgentResult]:
    names = dict.fromkeys([*(agents or ()), *(p.spec.name for p in jobs)])
    specs = [spec for name in names if (spec := state.agent(name)) is not None]
    by_agent: dict[str, list[CaseResult]] = {}
    for result in records:  # grouped once: a filter per agent was agents x records
        by_agent.setdefault(result.agent, []).append(result)
    shared = Shared(state)
    return [
        agent_result(spec.agent, by_agent.get(spec.name, []), run_hash(spec, state, shared))
        for spec in specs
    ]
