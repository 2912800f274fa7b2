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

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pydantic import TypeAdapter

from reconciler.errors import UsageError
from reconciler.evals.bundle import case_hash, run_hash
from reconciler.evals.cache import ResultCache, TrialKey, open_cache
from reconciler.evals.engine import Engine, EngineConfig, JobResult, RunReport
from reconciler.evals.grading import Grade, grade
from reconciler.evals.inputs import run_inputs
from reconciler.evals.providers import Mode, Providers
from reconciler.evals.records import CaseResult, effective_repeats, effective_tags, record
from reconciler.evals.results import (
    AgentResult,
    Results,
    RunInfo,
    Selection,
    Shard,
    agent_result,
    build,
)
from reconciler.evals.runners import RunnerContext, make_runner
from reconciler.evals.scope import admits
from reconciler.evals.types import CaseJob, Provider, ProviderError, Runner, Trajectory
from reconciler.pricing import PriceBook
from reconciler.spec.catalog import Tool
from reconciler.spec.state import AgentSpec, DesiredState

CASSETTES = "cassettes"
CANCELLED = "not run: the run was interrupted first"

RunProgress = Callable[[int, int], None]  # (trials done, trials to run)


@dataclass(frozen=True)
class PlannedJob:
    """One trial to run, with what its record and its cache key need."""

    spec: AgentSpec
    suite: str
    job: CaseJob
    repeats: int
    tags: tuple[str, ...]
    case_hash: str
    run_hash: str


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
    catalog = state.tools
    planned: list[PlannedJob] = []
    for spec in sorted(state.agents, key=lambda s: s.name):
        if agents is None or spec.name in agents:
            planned.extend(_agent_jobs(spec, state, prices, catalog, shard, selection))
    return planned


def _agent_jobs(
    spec: AgentSpec,
    state: DesiredState,
    prices: PriceBook,
    catalog: dict[str, Tool],
    shard: Shard | None,
    selection: Selection | None,
) -> list[PlannedJob]:
    bundle = run_hash(spec, state)
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


def to_record(planned: PlannedJob, result: Grade, trajectory: Trajectory | None) -> CaseResult:
    return record(
        agent=planned.spec.name,
        suite=planned.suite,
        case=planned.job.case,
        trial=planned.job.trial,
        repeats=planned.repeats,
        tags=planned.tags,
        grade=result,
        trajectory=trajectory,
        case_hash=planned.case_hash,
    )


def _from_cache(
    store: ResultCache | None, planned: PlannedJob, mode: str, inputs: str | None
) -> CaseResult | None:
    if store is None or inputs is None:
        return None
    text = store.get(cache_key(planned, mode, inputs))
    return None if text is None else _record_adapter().validate_json(text)


class _Runners:
    """One runner per agent for the run, each with its agent's provider."""

    def __init__(self, root: Path, providers: Providers) -> None:
        self.root = root
        self.providers = providers
        self._runners: dict[str, Runner] = {}

    def __call__(self, job: CaseJob) -> Runner:
        agent = job.agent
        runner = self._runners.get(agent.name)
        if runner is None:
            provider: Provider | None = None
            if agent.runtime.type == "builtin":
                folder = self.root / "evals" / agent.name / CASSETTES
                provider = self.providers.for_agent(agent.model.provider, folder)
            workdir = self.root / "agents" / agent.name
            runner = make_runner(RunnerContext(agent, provider, workdir))
            self._runners[agent.name] = runner
        return runner


async def _execute(
    root: Path,
    jobs: Sequence[CaseJob],
    mode: Mode,
    config: EngineConfig,
    progress: RunProgress | None,
) -> RunReport:
    engine = Engine(config)
    providers = Providers(mode, wrap=engine.wrap)

    def report(_: JobResult, done: int, total: int) -> None:
        if progress is not None:
            progress(done, total)

    try:
        _start_live_providers(providers, jobs)
        return await engine.run(jobs, _Runners(root, providers), report)
    finally:
        await providers.aclose()


def _start_live_providers(providers: Providers, jobs: Sequence[CaseJob]) -> None:
    """A live run that cannot call its model (no key, say) fails once, up front, rather
    than in every trial."""
    if providers.mode == "replay":
        return
    builtin = {j.agent.model.provider for j in jobs if j.agent.runtime.type == "builtin"}
    for name in sorted(builtin):
        try:
            providers.live(name)
        except ProviderError as exc:
            raise UsageError(f"--mode {providers.mode}: {exc.message}") from None


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
) -> EvalRun:
    """Run (or fetch from the cache) every planned trial; grade, record and score them.
    ``agents`` are the agents to report, with or without trials (an agent with no suite,
    or none of its cases in this shard, is still in the results; default: those with a
    trial)."""
    with open_cache(cache_path) as store:
        recordings = run_inputs(root, [p.spec.agent for p in jobs], mode)
        cached = {
            i: r
            for i, p in enumerate(jobs)
            if (r := _from_cache(store, p, mode, recordings[p.spec.agent.name]))
        }
        todo = [i for i in range(len(jobs)) if i not in cached]
        report = asyncio.run(
            _execute(root, [jobs[i].job for i in todo], mode, config or EngineConfig(), progress)
        )
        fresh, calls = _grade_report(report, [jobs[i] for i in todo])
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
    ran = sum(r.graded for _, r in fresh)
    return EvalRun(results, calls, len(cached), ran, len(fresh) - ran)


def _agent_results(
    state: DesiredState,
    jobs: Sequence[PlannedJob],
    records: Sequence[CaseResult],
    agents: Sequence[str] | None,
) -> list[AgentResult]:
    names = dict.fromkeys([*(agents or ()), *(p.spec.name for p in jobs)])
    specs = [spec for name in names if (spec := state.agent(name)) is not None]
    return [
        agent_result(
            spec.agent, [r for r in records if r.agent == spec.name], run_hash(spec, state)
        )
        for spec in specs
    ]


def _grade_report(
    report: RunReport, planned: Sequence[PlannedJob]
) -> tuple[list[tuple[PlannedJob, CaseResult]], int]:
    """Records for every planned trial: graded when it ran, not run when cancelled."""
    by_job = {id(p.job): p for p in planned}
    out: list[tuple[PlannedJob, CaseResult]] = []
    calls = 0
    for result in report.results:
        p = by_job[id(result.job)]
        contract = p.spec.agent.contract
        out.append(
            (p, to_record(p, grade(p.job.case, contract, result.trajectory), result.trajectory))
        )
        calls += len(result.trajectory.model_calls)
    for job in report.not_run:
        p = by_job[id(job)]
        out.append((p, to_record(p, Grade("not_run", CANCELLED, None), None)))
    return out, calls
