"""Runs many CaseJobs at once: bounded concurrency, rate limits, retries, timeouts.

- ``concurrency`` trials run at a time (a fixed pool of workers, cheap for large runs).
- ``Engine.wrap(provider)`` puts a provider behind a token bucket shared by every wrap of
  the same provider name, and retries retryable ProviderErrors (429, 5xx, connection
  failures) with exponential backoff and jitter. A Retry-After from the server is honoured
  and pauses the whole bucket, so the other trials back off too.
- Each trial has a timeout: runners stop at ``limits.timeout_s`` themselves; the engine
  adds a backstop of ``timeout_grace_s`` for runners that do not.
- A trial that raises becomes an error trajectory; the run goes on. The engine never
  times a trial: latency is what the runner recorded (runners.base.recorded_latency).
- Cancellation (Ctrl-C under ``asyncio.run``) stops the workers, and ``run`` returns the
  finished results with ``cancelled=True``; unfinished jobs are listed in ``not_run``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from reconciler.evals.types import (
    CaseJob,
    ChatRequest,
    ChatResponse,
    Provider,
    ProviderError,
    Runner,
    Trajectory,
)


@dataclass(frozen=True)
class RateLimit:
    requests_per_s: float
    burst: int = 1


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5  # the first call included
    base_s: float = 0.5
    max_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before the next attempt; ``attempt`` counts from 1."""
        if retry_after is not None:
            return retry_after + random.uniform(0, min(0.1, retry_after * 0.1))
        cap = min(self.max_s, self.base_s * 2.0 ** (attempt - 1))
        return cap / 2 + random.uniform(0, cap / 2)  # "equal jitter"


@dataclass(frozen=True)
class EngineConfig:
    concurrency: int = 8
    rate_limits: dict[str, RateLimit] = field(default_factory=dict)  # by provider name
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_grace_s: float = 5.0


@dataclass(frozen=True, repr=False)
class JobResult:
    job: CaseJob
    trajectory: Trajectory

    def __repr__(self) -> str:
        return f"JobResult({self.job.agent.name}/{self.job.case.id}#{self.job.trial})"


@dataclass(repr=False)
class RunReport:
    """Short repr on purpose: asyncio.run (3.11) formats its main task's result on exit,
    and the full repr of a large run costs seconds of CPU."""

    results: list[JobResult]  # in job order
    not_run: list[CaseJob]  # cancelled before they finished
    cancelled: bool = False

    def __repr__(self) -> str:
        return (
            f"RunReport(results={len(self.results)}, not_run={len(self.not_run)}, "
            f"cancelled={self.cancelled})"
        )


Progress = Callable[[JobResult, int, int], None]  # (result, done, total)
OnResult = Callable[[int, JobResult, int, int], None]  # (job index, result, done, total)
RunnerFor = Callable[[CaseJob], Runner]


class TokenBucket:
    """GCRA: each acquirer reserves the next free slot, then sleeps until it; no lock."""

    def __init__(self, limit: RateLimit) -> None:
        self.interval = 1.0 / limit.requests_per_s
        self.tolerance = (max(1, limit.burst) - 1) * self.interval
        self.tat = 0.0  # theoretical arrival time of the next request

    async def acquire(self) -> None:
        now = time.monotonic()
        tat = max(self.tat, now)
        self.tat = tat + self.interval
        wait = tat - self.tolerance - now
        if wait > 0:
            await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        """Nobody may start before now + seconds (a server's Retry-After)."""
        self.tat = max(self.tat, time.monotonic() + seconds + self.tolerance)


class ResilientProvider:
    """A provider behind a rate limit and retries."""

    def __init__(self, inner: Provider, bucket: TokenBucket | None, retry: RetryPolicy) -> None:
        self.name = inner.name
        self.inner = inner
        self.bucket = bucket
        self.retry = retry
        self.retries = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        attempt = 1
        while True:
            if self.bucket is not None:
                await self.bucket.acquire()
            try:
                return await self.inner.complete(request)
            except ProviderError as exc:
                if not exc.retryable or attempt >= self.retry.max_attempts:
                    raise
                delay = self.retry.delay(attempt, exc.retry_after)
                if self.bucket is not None and exc.retry_after is not None:
                    self.bucket.pause(exc.retry_after)
            attempt += 1
            self.retries += 1
            await asyncio.sleep(delay)

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()


class Engine:
    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self._buckets: dict[str, TokenBucket] = {}

    def wrap(self, provider: Provider) -> ResilientProvider:
        """Rate limit (shared per provider name) and retries around a live provider."""
        limit = self.config.rate_limits.get(provider.name)
        bucket = None
        if limit is not None:
            bucket = self._buckets.setdefault(provider.name, TokenBucket(limit))
        return ResilientProvider(provider, bucket, self.config.retry)

    async def run(
        self, jobs: Sequence[CaseJob], runner_for: RunnerFor, progress: Progress | None = None
    ) -> RunReport:
        """Every job's result, in job order (``stream`` keeps none of them)."""
        finished: dict[int, JobResult] = {}

        def keep(index: int, result: JobResult, done: int, total: int) -> None:
            finished[index] = result
            if progress is not None:
                progress(result, done, total)

        cancelled, not_run = await self.stream(jobs, runner_for, keep)
        return RunReport([finished[i] for i in sorted(finished)], not_run, cancelled)

    async def stream(
        self, jobs: Sequence[CaseJob], runner_for: RunnerFor, on_result: OnResult
    ) -> tuple[bool, list[CaseJob]]:
        """Runs the jobs, handing each result to ``on_result(index, result, done, total)``
        as it finishes and keeping none: a caller that keeps less than a trajectory (a
        graded record) runs in flat memory. Returns (cancelled, the jobs not run)."""
        done: set[int] = set()
        pending: Iterator[tuple[int, CaseJob]] = iter(enumerate(jobs))

        async def worker() -> None:
            for index, job in pending:
                result = JobResult(job, await self.run_one(job, runner_for))
                done.add(index)
                on_result(index, result, len(done), len(jobs))

        count = max(1, min(self.config.concurrency, len(jobs)))
        workers = [asyncio.create_task(worker()) for _ in range(count)]
        cancelled = False
        try:
            await asyncio.gather(*workers)
        except asyncio.CancelledError:
            cancelled = True
        finally:  # cancelled, or a callback raised: stop every worker
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        return cancelled, [job for i, job in enumerate(jobs) if i not in done]

    async def run_one(self, job: CaseJob, runner_for: RunnerFor) -> Trajectory:
        """One trial that always returns: a crash or a hang becomes an error trajectory."""
        limit = job.agent.limits.timeout_s + self.config.timeout_grace_s
        try:
            async with asyncio.timeout(limit):
                return await runner_for(job).run(job)
        except TimeoutError:
            trajectory = Trajectory(stop_reason="timeout")
            trajectory.error = f"timed out after {job.agent.limits.timeout_s:g} s"
        except Exception as exc:  # one failing trial never sinks the run
            trajectory = Trajectory(stop_reason="error")
            trajectory.error = f"the runner failed: {type(exc).__name__}: {exc}"
        return trajectory  # no model call was recorded: latency 0, and the trial is not run
