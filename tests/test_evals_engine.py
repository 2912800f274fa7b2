from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reconciler.evals.engine import (
    Engine,
    EngineConfig,
    JobResult,
    RateLimit,
    RetryPolicy,
    TokenBucket,
)
from reconciler.evals.providers import OpenAIProvider, Providers
from reconciler.evals.runners import BuiltinRunner, CommandRunner
from reconciler.evals.types import CaseJob, ChatRequest, ChatResponse, Provider, Trajectory
from tests.evals_support import agent, case, job
from tests.openai_server import OpenAIServer, Step

PROJECT = Path(__file__).resolve().parent.parent
FAST_RETRY = RetryPolicy(max_attempts=4, base_s=0.01, max_s=0.05)


class SleepyRunner:
    """Sleeps, counts how many trials run at once; some trials crash or hang."""

    def __init__(self, seconds: float = 0.05, crash: str = "", hang: str = "") -> None:
        self.seconds, self.crash, self.hang = seconds, crash, hang
        self.running = 0
        self.max_running = 0

    async def run(self, job: CaseJob) -> Trajectory:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if job.case.id == self.crash:
                raise RuntimeError("the runner broke")
            await asyncio.sleep(3600 if job.case.id == self.hang else self.seconds)
            return Trajectory(final_output=job.case.id)
        finally:
            self.running -= 1


def jobs(n: int, timeout_s: float = 10) -> list[CaseJob]:
    the_agent = agent(limits={"max_steps": 6, "timeout_s": timeout_s})
    return [job(the_agent, case(id=f"c{i}")) for i in range(n)]


def test_concurrency_bound_is_respected_and_results_keep_job_order() -> None:
    runner = SleepyRunner(0.05)
    seen: list[tuple[int, int]] = []

    def progress(result: JobResult, done: int, total: int) -> None:
        seen.append((done, total))

    engine = Engine(EngineConfig(concurrency=4))
    report = asyncio.run(engine.run(jobs(20), lambda _: runner, progress))
    assert runner.max_running == 4
    assert [r.trajectory.final_output for r in report.results] == [f"c{i}" for i in range(20)]
    assert seen[-1] == (20, 20) and len(seen) == 20 and not report.cancelled


def test_one_crashing_or_hanging_case_never_sinks_the_run() -> None:
    runner = SleepyRunner(0.01, crash="c1", hang="c2")
    engine = Engine(EngineConfig(concurrency=3, timeout_grace_s=0.0))
    report = asyncio.run(engine.run(jobs(5, timeout_s=0.2), lambda _: runner))
    by_case = {r.job.case.id: r.trajectory for r in report.results}
    assert by_case["c1"].stop_reason == "error" and "the runner broke" in (
        by_case["c1"].error or ""
    )
    assert by_case["c2"].stop_reason == "timeout"
    assert by_case["c2"].latency_s == 0.0  # the engine never times a trial: nothing recorded
    assert {by_case[c].stop_reason for c in ("c0", "c3", "c4")} == {"final"}
    assert report.not_run == []


def test_cancellation_keeps_the_finished_results() -> None:
    runner = SleepyRunner(0.1)

    async def main() -> object:
        four_done = asyncio.Event()  # cancel on progress, not after some seconds

        def progress(result: JobResult, done: int, total: int) -> None:
            if done == 4:
                four_done.set()

        engine = Engine(EngineConfig(concurrency=2))
        task = asyncio.create_task(engine.run(jobs(10), lambda _: runner, progress))
        await four_done.wait()
        task.cancel()
        return await task

    report = asyncio.run(main())
    assert report.cancelled  # type: ignore[attr-defined]
    finished = [r.job.case.id for r in report.results]  # type: ignore[attr-defined]
    not_run = [j.case.id for j in report.not_run]  # type: ignore[attr-defined]
    assert len(finished) >= 4 and not_run  # what finished is kept; the rest is not run
    assert sorted(finished + not_run, key=lambda c: int(c[1:])) == [f"c{i}" for i in range(10)]
    assert runner.running == 0


def test_ctrl_c_under_asyncio_run_returns_the_finished_results(tmp_path: Path) -> None:
    program = tmp_path / "run.py"
    program.write_text(
        textwrap.dedent(
            """
            import asyncio, json, sys
            from reconciler.evals.engine import Engine, EngineConfig
            from tests.test_evals_engine import SleepyRunner, jobs

            runner = SleepyRunner(0.1)
            def progress(result, done, total):
                if done == 2:
                    print("two done", flush=True)
            report = asyncio.run(Engine(EngineConfig(concurrency=1)).run(
                jobs(50), lambda _: runner, progress))
            print(json.dumps({"cancelled": report.cancelled, "done": len(report.results),
                              "not_run": len(report.not_run)}), flush=True)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    process = subprocess.Popen(
        [sys.executable, str(program)], cwd=PROJECT, env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "two done"
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=120)  # a guard against a hang, not a target
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["cancelled"] and summary["done"] >= 2
    assert summary["done"] + summary["not_run"] == 50 and process.returncode == 0


def openai_engine(server: OpenAIServer, config: EngineConfig) -> tuple[Engine, BuiltinRunner]:
    engine = Engine(config)
    live = OpenAIProvider.from_env(
        {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.base_url}
    )
    return engine, BuiltinRunner(engine.wrap(live))


def test_429_with_retry_after_is_honoured() -> None:
    with OpenAIServer([{"content": "fine"}]) as server:
        engine, runner = openai_engine(server, EngineConfig(concurrency=2, retry=FAST_RETRY))
        server.fail_next(429, retry_after="0.4")
        report = asyncio.run(engine.run(jobs(1), lambda _: runner))
    trajectory = report.results[0].trajectory
    assert trajectory.stop_reason == "final" and trajectory.final_output == "fine"
    assert len(server.requests) == 2
    # the retry leaves 0.4 s after the 429 came back, which is after the first arrived;
    # load only adds to that (a lower bound on the server's clock, never an upper one)
    first, second = server.arrivals
    assert second - first >= 0.4 - 0.01
    assert runner.provider.retries == 1  # type: ignore[attr-defined]


def test_5xx_is_retried_with_backoff_and_4xx_is_not() -> None:
    with OpenAIServer([{"content": "fine"}]) as server:
        engine, runner = openai_engine(server, EngineConfig(retry=FAST_RETRY))

        async def three() -> list[Trajectory]:  # one event loop: the client's pool lives in it
            trajectories = []
            for status, times in ((500, 2), (400, 1), (503, 10)):
                server.fail_next(status, times=times)
                report = await engine.run(jobs(1), lambda _: runner)
                trajectories.append(report.results[0].trajectory)
            return trajectories

        ok, bad, exhausted = asyncio.run(three())
        assert len(server.requests) == 3 + 1 + 4
    assert ok.stop_reason == "final"
    assert bad.stop_reason == "error" and "HTTP 400" in (bad.error or "")
    assert exhausted.stop_reason == "error" and "HTTP 503" in (exhausted.error or "")


def test_rate_limit_per_provider() -> None:
    with OpenAIServer([{"content": "fine"}]) as server:
        limits = {"openai": RateLimit(requests_per_s=20, burst=2)}
        engine, runner = openai_engine(server, EngineConfig(concurrency=10, rate_limits=limits))
        started = time.monotonic()  # the server's clock too
        report = asyncio.run(engine.run(jobs(10), lambda _: runner))
    assert all(r.trajectory.stop_reason == "final" for r in report.results)
    # 2 at once, then one every 0.05 s: call i arrives no sooner than (i - 1) * 0.05 s
    # after the start (load only delays calls: a lower bound on the server's clock)
    earliest = [started + max(0, i - 1) * 0.05 - 0.01 for i in range(10)]
    assert all(t >= e for t, e in zip(sorted(server.arrivals), earliest, strict=True))


def test_token_bucket_pause_holds_everyone_back() -> None:
    async def main() -> float:
        bucket = TokenBucket(RateLimit(requests_per_s=1000, burst=5))
        bucket.pause(0.2)
        started = time.monotonic()
        await asyncio.gather(*(bucket.acquire() for _ in range(3)))
        return time.monotonic() - started

    assert asyncio.run(main()) >= 0.19


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 0.25, 0.5), (3, 1.0, 2.0), (9, 15, 30)])
def test_backoff_grows_with_jitter_and_is_capped(attempt: int, low: float, high: float) -> None:
    policy = RetryPolicy(base_s=0.5, max_s=30)
    delays = [policy.delay(attempt, None) for _ in range(50)]
    assert all(low <= d <= high for d in delays) and len(set(delays)) > 1
    assert 2.0 <= policy.delay(1, 2.0) <= 2.1


# --- latency is recorded, never local wall time ----------------------------------------

TOOL_THEN_ANSWER: list[Step] = [
    {"tool_calls": [{"name": "ticketing__get_ticket", "arguments": {"ticket_id": "TCK-1"}}]},
    {"content": "Routed TCK-1."},
]


class LoadedMachine:
    """A real provider behind a delay: what a busy machine or a rate limit adds."""

    def __init__(self, inner: Provider, delay_s: float) -> None:
        self.name, self.inner, self.delay_s = inner.name, inner, delay_s

    async def complete(self, request: ChatRequest) -> ChatResponse:
        await asyncio.sleep(self.delay_s)
        return await self.inner.complete(request)


def test_replayed_latency_is_the_recorded_latency_whatever_the_wall_time(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "sk-test"}
    with OpenAIServer(TOOL_THEN_ANSWER, latency_s=0.05) as server:
        env["OPENAI_BASE_URL"] = server.base_url
        recorder = Providers("record", env=env).for_agent("openai", tmp_path)
        recorded = asyncio.run(BuiltinRunner(recorder).run(job()))
    cassettes = [json.loads(p.read_text("utf-8")) for p in sorted(tmp_path.glob("*.json"))]
    assert len(cassettes) == 2 and recorded.stop_reason == "final"
    expected = math.fsum(c["latency_s"] for c in cassettes)

    def replay(delay_s: float, concurrency: int) -> list[float]:
        provider = Providers("replay").for_agent("openai", tmp_path)
        runner = BuiltinRunner(LoadedMachine(provider, delay_s))
        engine = Engine(EngineConfig(concurrency=concurrency))
        report = asyncio.run(engine.run([job(trial=i) for i in range(4)], lambda _: runner))
        return [r.trajectory.latency_s for r in report.results]

    quiet, busy = replay(0.0, 4), replay(0.1, 1)  # the busy run waits >= 0.2 s a trial
    assert quiet == busy == [expected] * 4
    assert expected >= 0.1  # two calls, each answered 0.05 s after it arrived


def test_an_external_agent_latency_is_what_it_reports(tmp_path: Path) -> None:
    agent_program = tmp_path / "agent.py"
    agent_program.write_text(
        textwrap.dedent(
            """
            import json, sys, time
            sys.stdin.readline()
            time.sleep(0.2)  # slow to start and to answer: not the latency it reports
            usage = [{"input_tokens": 10, "output_tokens": 5, "latency_s": 1.25},
                     {"input_tokens": 10, "output_tokens": 5, "latency_s": 0.5}]
            print(json.dumps({"type": "final", "output": "done", "usage": usage}), flush=True)
            """
        )
    )
    runner = CommandRunner([sys.executable, str(agent_program)], workdir=tmp_path)
    trajectory = asyncio.run(runner.run(job()))
    assert trajectory.stop_reason == "final", trajectory.error
    assert trajectory.latency_s == 1.75


def test_a_fixtures_declared_latency_counts_in_the_trials_latency(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "sk-test"}
    with OpenAIServer(TOOL_THEN_ANSWER, latency_s=0.01) as server:
        env["OPENAI_BASE_URL"] = server.base_url
        recorder = Providers("record", env=env).for_agent("openai", tmp_path)
        asyncio.run(BuiltinRunner(recorder).run(job()))
    models = math.fsum(
        json.loads(p.read_text("utf-8"))["latency_s"] for p in tmp_path.glob("*.json")
    )
    slow = case()
    slow = slow.model_copy(
        update={"fixtures": [f.model_copy(update={"latency_s": 0.75}) for f in slow.fixtures]}
    )
    replayed = asyncio.run(
        BuiltinRunner(Providers("replay").for_agent("openai", tmp_path)).run(job(the_case=slow))
    )
    assert replayed.stop_reason == "final", replayed.error
    assert [c.latency_s for c in replayed.tool_calls] == [0.75]
    assert replayed.latency_s == pytest.approx(models + 0.75)
