"""Run planned trials and grade them: on one event loop, or spread over forked workers.

Each trial is graded and recorded as soon as it finishes, and only its record is kept
(a trajectory holds the whole conversation): memory stays flat however long the run.
Records come back in plan order whether one process ran them or several, so the results
of a run do not depend on ``--workers``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from reconciler.errors import UsageError
from reconciler.evals.engine import Engine, EngineConfig, JobResult
from reconciler.evals.grading import Grade, grade
from reconciler.evals.providers import Mode, Providers
from reconciler.evals.records import CaseResult, record
from reconciler.evals.runners import RunnerContext, make_runner
from reconciler.evals.types import CaseJob, Provider, ProviderError, Runner, Trajectory
from reconciler.evals.workers import Tick, run_forked, slices, worker_count
from reconciler.spec.state import AgentSpec

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
class Ran:
    records: list[CaseResult]  # one per planned trial, in plan order; not run ones too
    model_calls: int  # made by the trials that ran


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


def not_run(planned: PlannedJob, reason: str) -> CaseResult:
    return to_record(planned, Grade("not_run", reason, None), None)


def run_trials(
    root: Path,
    planned: Sequence[PlannedJob],
    mode: Mode,
    config: EngineConfig,
    progress: RunProgress | None = None,
    workers: int | None = None,
) -> Ran:
    """Runs and grades every planned trial; ``workers`` processes (None: one per core
    when the run is big enough to gain from it)."""
    count = worker_count(workers, len(planned), config.concurrency)
    if count == 1:
        return _run_loop(_execute(root, planned, mode, config, progress))
    _check_live(mode, planned)  # once, and before the fork: the workers share the import
    parts = slices(len(planned), count)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(planned))

    def work(part: Sequence[int], share: EngineConfig, advance: Tick) -> bytes:
        jobs = [planned[i] for i in part]
        ran = _run_loop(_execute(root, jobs, mode, share, lambda _d, _t: advance()))
        return _batch_adapter().dump_json(ran)

    return _merge(planned, parts, run_forked(work, parts, config, tick))


def _merge(
    planned: Sequence[PlannedJob], parts: list[list[int]], payloads: list[bytes | str]
) -> Ran:
    records: list[CaseResult | None] = [None] * len(planned)
    calls = 0
    for part, payload in zip(parts, payloads, strict=True):
        if isinstance(payload, str):  # that worker's trials did not run: said, never passed
            for i in part:
                records[i] = not_run(planned[i], f"not run: {payload}")
            continue
        ran = _batch_adapter().validate_json(payload)
        calls += ran.model_calls
        for i, result in zip(part, ran.records, strict=True):
            records[i] = result
    return Ran([r for r in records if r is not None], calls)


def _run_loop(main: Coroutine[Any, Any, Ran]) -> Ran:
    """On uvloop where it is installed (its loop costs a fraction of asyncio's own per
    call), else asyncio's; cancelled by Ctrl-C either way (asyncio.Runner's handler)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


@cache
def _batch_adapter() -> TypeAdapter[Ran]:
    return TypeAdapter(Ran)


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
    planned: Sequence[PlannedJob],
    mode: Mode,
    config: EngineConfig,
    progress: RunProgress | None,
) -> Ran:
    engine = Engine(config)
    providers = Providers(mode, wrap=engine.wrap)
    records: list[CaseResult | None] = [None] * len(planned)
    calls = 0

    def graded(index: int, result: JobResult, done: int, total: int) -> None:
        nonlocal calls
        p = planned[index]
        trajectory = result.trajectory
        result_grade = grade(p.job.case, p.spec.agent.contract, trajectory)
        records[index] = to_record(p, result_grade, trajectory)
        calls += len(trajectory.model_calls)
        if progress is not None:
            progress(done, total)

    try:
        _start_live_providers(providers, planned)
        await engine.stream([p.job for p in planned], _Runners(root, providers), graded)
    finally:
        await providers.aclose()
    return Ran([r or not_run(p, CANCELLED) for r, p in zip(records, planned, strict=True)], calls)


def _check_live(mode: Mode, planned: Sequence[PlannedJob]) -> None:
    """The live clients' checks (a key, say), made in this process: no loop, no call."""
    _start_live_providers(Providers(mode), planned)


def _start_live_providers(providers: Providers, planned: Sequence[PlannedJob]) -> None:
    """A live run that cannot call its model (no key, say) fails once, up front, rather
    than in every trial."""
    if providers.mode == "replay":
        return
    agents = [p.spec.agent for p in planned]
    builtin = {a.model.provider for a in agents if a.runtime.type == "builtin"}
    for name in sorted(builtin):
        try:
            providers.live(name)
        except ProviderError as exc:
            raise UsageError(f"--mode {providers.mode}: {exc.message}") from None
