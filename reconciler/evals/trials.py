"""Run planned trials and grade them: on one event loop, or spread over forked workers.

Each trial is graded and recorded as soon as it finishes, and only its record is kept
(a trajectory holds the whole conversation): memory stays flat however long the run.
Records come back in plan order whether one process ran them or several, so the results
of a run do not depend on ``--workers``.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import TypeAdapter

from reconciler.errors import UsageError
from reconciler.evals.engine import Engine, EngineConfig, JobResult
from reconciler.evals.grading import Grade, grade
from reconciler.evals.providers import (
    CassetteStore,
    Mode,
    Providers,
    check_live,
    preload_live,
)
from reconciler.evals.records import CaseResult, record
from reconciler.evals.runners import RunnerContext, make_runner
from reconciler.evals.types import CaseJob, Provider, ProviderError, Runner, Trajectory
from reconciler.evals.workers import (
    Prewarmed,
    Tick,
    can_fork,
    run_forked,
    share,
    slices,
    worker_count,
)
from reconciler.spec.state import AgentSpec

CASSETTES = "cassettes"
CANCELLED = "not run: the run was interrupted first"

RunProgress = Callable[[int, int], None]  # (trials done, trials to run)


class Trial(NamedTuple):
    """What running and recording one trial needs, and no more: what a worker is sent."""

    job: CaseJob
    suite: str
    repeats: int
    tags: tuple[str, ...]
    case_hash: str


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

    @property
    def trial(self) -> Trial:
        return Trial(self.job, self.suite, self.repeats, self.tags, self.case_hash)


@dataclass(frozen=True)
class Ran:
    records: list[CaseResult]  # one per planned trial, in plan order; not run ones too
    model_calls: int  # made by the trials that ran


def to_record(trial: Trial, result: Grade, trajectory: Trajectory | None) -> CaseResult:
    return record(
        agent=trial.job.agent.metadata.name,
        suite=trial.suite,
        case=trial.job.case,
        trial=trial.job.trial,
        repeats=trial.repeats,
        tags=trial.tags,
        grade=result,
        trajectory=trajectory,
        case_hash=trial.case_hash,
    )


def not_run(trial: Trial, reason: str) -> CaseResult:
    return to_record(trial, Grade("not_run", reason, None), None)


def run_trials(
    root: Path,
    planned: Sequence[PlannedJob],
    mode: Mode,
    config: EngineConfig,
    progress: RunProgress | None = None,
    workers: int | None = None,
    warm: Prewarmed | None = None,
) -> Ran:
    """Runs and grades every planned trial; ``workers`` processes (None: one per core for
    a big replay run, else one). ``warm``: a worker started before the run was planned
    (``prewarm``), used for a one-worker run and let go otherwise."""
    trials = [p.trial for p in planned]
    can_run = runnable(root, trials, mode)  # not the others: a fork for them is only cost
    count = worker_count(workers, can_run, config.concurrency, cpu_bound=mode == "replay")
    tick = _counter(len(trials), progress)
    if warm is not None and count == 1 and trials:
        data = pickle.dumps((root, trials, mode, config), pickle.HIGHEST_PROTOCOL)
        return _merge(trials, [list(range(len(trials)))], [warm.submit(data, tick)])
    if warm is not None:
        warm.discard()
    if count == 1:
        return _run_loop(_execute(root, trials, mode, config, progress))
    _check_live(mode, trials)  # no key fails once, here, not in every worker
    if mode != "replay":
        preload_live()  # imported before the fork: the workers share the import
    parts = slices(len(trials), count)
    jobs = [
        partial(_run_part, root, [trials[i] for i in part], mode, share(config, count, k))
        for k, part in enumerate(parts)
    ]
    return _merge(trials, parts, run_forked(jobs, tick))


def runnable(root: Path, trials: Sequence[Trial], mode: Mode) -> int:
    """How many trials can really run, which is what workers are for. In replay a builtin
    agent's trial starts with a cassette's answer, so an agent with no cassette at all runs
    none: each of its trials ends "not recorded" at once, in whichever process."""
    if mode != "replay":
        return len(trials)
    recorded: dict[str, bool] = {}
    count = 0
    for trial in trials:
        agent = trial.job.agent
        if agent.runtime.type != "builtin":
            count += 1
            continue
        if agent.name not in recorded:
            store = CassetteStore(cassette_folder(root, agent.name))
            recorded[agent.name] = store.holds_any()
        count += recorded[agent.name]
    return count


def cassette_folder(root: Path, agent: str) -> Path:
    return root / "evals" / agent / CASSETTES


def prewarm(mode: Mode) -> Prewarmed | None:
    """For live calls, a worker forked now that imports the model client (about half a
    second) while this process loads and plans the run: the first call goes out that
    much sooner. None in replay mode, or where there is no fork."""
    if mode == "replay" or not can_fork():
        return None
    return Prewarmed.start(preload_live, _run_pickled)


def _run_pickled(data: bytes, tick: Tick) -> bytes:
    root, trials, mode, config = pickle.loads(data)
    return _run_part(root, trials, mode, config, tick)


def _run_part(
    root: Path, trials: Sequence[Trial], mode: Mode, config: EngineConfig, tick: Tick
) -> bytes:
    ran = _run_loop(_execute(root, trials, mode, config, lambda _d, _t: tick()))
    return _batch_adapter().dump_json(ran)


def _counter(total: int, progress: RunProgress | None) -> Tick:
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    return tick


def _merge(trials: Sequence[Trial], parts: list[list[int]], payloads: list[bytes | str]) -> Ran:
    """The parts' records in plan order. The parts cover every trial once (``slices``) and
    a worker sends one record per trial of its part (``strict`` checks it), so none is
    missing; if one were, that is a bug, raised (KeyError), never a trial dropped."""
    records: dict[int, CaseResult] = {}
    calls = 0
    for part, payload in zip(parts, payloads, strict=True):
        if isinstance(payload, str):  # that worker's trials did not run: said, never passed
            for i in part:
                records[i] = not_run(trials[i], f"not run: {payload}")
            continue
        ran = _batch_adapter().validate_json(payload)
        calls += ran.model_calls
        records.update(zip(part, ran.records, strict=True))
    return Ran([records[i] for i in range(len(trials))], calls)


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
                folder = cassette_folder(self.root, agent.name)
                provider = self.providers.for_agent(agent.model.provider, folder)
            workdir = self.root / "agents" / agent.name
            runner = make_runner(RunnerContext(agent, provider, workdir))
            self._runners[agent.name] = runner
        return runner


async def _execute(
    root: Path,
    trials: Sequence[Trial],
    mode: Mode,
    config: EngineConfig,
    progress: RunProgress | None,
) -> Ran:
    engine = Engine(config)
    providers = Providers(mode, wrap=engine.wrap)
    records: list[CaseResult | None] = [None] * len(trials)
    calls = 0

    def graded(index: int, result: JobResult, done: int, total: int) -> None:
        nonlocal calls
        trial = trials[index]
        trajectory = result.trajectory
        result_grade = grade(trial.job.case, trial.job.agent.contract, trajectory)
        records[index] = to_record(trial, result_grade, trajectory)
        calls += len(trajectory.model_calls)
        if progress is not None:
            progress(done, total)

    try:
        _start_live_providers(providers, trials)
        await engine.stream([t.job for t in trials], _Runners(root, providers), graded)
    finally:
        await providers.aclose()
    return Ran([r or not_run(t, CANCELLED) for r, t in zip(records, trials, strict=True)], calls)


def _check_live(mode: Mode, trials: Sequence[Trial]) -> None:
    """The live providers' checks of the environment (a key, say), made in this process
    before the workers fork: no client built, no client imported."""
    _each_live(mode, trials, check_live)


def _start_live_providers(providers: Providers, trials: Sequence[Trial]) -> None:
    _each_live(providers.mode, trials, providers.live)


def _each_live(mode: Mode, trials: Sequence[Trial], start: Callable[[str], object]) -> None:
    """``start`` for each live provider the trials call: a live run that cannot call its
    model (no key, say) fails once, up front, rather than in every trial."""
    if mode == "replay":
        return
    agents = [t.job.agent for t in trials]
    builtin = {a.model.provider for a in agents if a.runtime.type == "builtin"}
    for name in sorted(builtin):
        try:
            start(name)
        except ProviderError as exc:
            raise UsageError(f"--mode {mode}: {exc.message}") from None
