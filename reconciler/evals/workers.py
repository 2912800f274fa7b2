"""Trials spread over worker processes: ``alm eval --workers N``.

One event loop tops out near one core, and the openai client alone costs over a
millisecond of CPU per call. So a run's trials are split over forked workers, each with
its own event loop, its share of the concurrency and the rate limits, and its own
clients. They are forked once the run is planned, so they share the loaded fleet and the
imported client and pickle nothing, and before any thread or event loop exists (a fork
beside threads can leave a child stuck on a lock it copied). Each tells how many
trials it finished (the progress, ten times a second) and at the end sends its graded
records as bytes; the caller
merges them in plan order, as shards merge. A worker that dies sends no records: its
trials are the caller's to report as not run, never as passed.

Ctrl-C: workers are in their own process group, so a terminal's SIGINT reaches the
parent alone; it forwards one SIGINT per Ctrl-C to each worker still running, whose
event loop cancels its trials and sends what finished, as a single process would.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from types import FrameType
from typing import Any, NamedTuple

from reconciler.errors import AlmError, ExitCode
from reconciler.evals.engine import EngineConfig, RateLimit

Tick = Callable[[], None]
Job = Callable[[Tick], bytes]  # what a worker does: its records, as bytes
_TICK = b"t"
_DONE = b"d"
_FAILED = b"f"
_ALM_ERROR = b"a"
PROGRESS_S = 0.1
MIN_TRIALS_PER_WORKER = 50  # below this a worker's start-up outweighs what it saves


def can_fork() -> bool:
    """Linux only: macOS has fork, but forking after its system frameworks load can crash
    the child, and Windows has none. Elsewhere a run is one process, as before."""
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()


def cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def worker_count(requested: int | None, trials: int, concurrency: int, cpu_bound: bool) -> int:
    """``requested`` workers, never more than the ``trials`` that can really run (the others
    end at once, wherever they are) or the concurrency allow. None:
    one per core for a CPU-bound run (replay) big enough to gain from it; one for calls
    that wait on a network (measured at 50 in flight, 100 ms each: a second worker made
    the run no faster and cost CPU and memory)."""
    if not can_fork():
        return 1
    wanted = requested
    if wanted is None:
        wanted = min(cores(), trials // MIN_TRIALS_PER_WORKER) if cpu_bound else 1
    return max(1, min(wanted, trials, concurrency))


def slices(count: int, workers: int) -> list[list[int]]:
    """Interleaved, so every worker gets a like mix of agents and suites."""
    return [list(range(k, count, workers)) for k in range(workers)]


def share(config: EngineConfig, workers: int, k: int) -> EngineConfig:
    """Worker k's part of the concurrency and of each rate limit: together, the whole."""
    concurrency = config.concurrency // workers + (k < config.concurrency % workers)
    limits = {
        name: RateLimit(limit.requests_per_s / workers, max(1, limit.burst // workers))
        for name, limit in config.rate_limits.items()
    }
    return replace(config, concurrency=max(1, concurrency), rate_limits=limits)


def run_forked(jobs: Sequence[Job], tick: Tick) -> list[bytes | str]:
    """Runs each job in a forked worker: each job's records, or why there are none (the
    worker failed or died). An AlmError a worker raised is raised here (WorkerError)."""
    context = multiprocessing.get_context("fork")
    gc.freeze()  # the heap so far is shared: a worker's collections never touch (copy) it
    forked = [_fork(context, job) for job in jobs]
    gc.unfreeze()
    return _gather(forked, tick)


class Prewarmed:
    """One worker forked before the run is planned, warming up (importing the model
    client) while this process loads the fleet; it is then sent its trials, pickled.
    Pickle is safe here: the bytes go from this process to its own child over a pipe."""

    def __init__(self, worker: _Forked, work: Connection) -> None:
        self.worker = worker
        self.work = work

    @classmethod
    def start(cls, warm: Callable[[], None], run: Callable[[bytes, Tick], bytes]) -> Prewarmed:
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)

        def job(tick: Tick) -> bytes:
            send.close()  # the child's copy: EOF on `receive` once the parent lets go
            warm()
            try:
                data = receive.recv_bytes()
            except EOFError:  # not needed after all
                raise _Unused from None
            return run(data, tick)

        worker = _fork(context, job)
        receive.close()
        return cls(worker, send)

    def submit(self, data: bytes, tick: Tick) -> bytes | str:
        """Sends the trials; their records, or why there are none."""
        with suppress(OSError):  # it has gone already: said below, by its exit code
            self.work.send_bytes(data)
        self.work.close()
        return _gather([self.worker], tick)[0]

    def discard(self) -> None:
        """Not needed (nothing to run, or a usage error): stopped at once rather than
        waited for, as it may still be importing; it holds nothing to lose."""
        self.work.close()
        if self.worker.process.is_alive():
            self.worker.process.kill()
        self.worker.process.join()
        self.worker.channel.close()


class WorkerError(AlmError):
    """An AlmError a worker raised (no key for a live run, say), raised again here."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Unused(Exception):
    pass


class _Forked(NamedTuple):
    process: multiprocessing.process.BaseProcess
    channel: Connection


def _fork(context: Any, job: Job) -> _Forked:
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(job, send), daemon=True)
    process.start()
    send.close()  # the parent's copy: EOF on `receive` once the worker has gone
    return _Forked(process, receive)


def _gather(forked: Sequence[_Forked], tick: Tick) -> list[bytes | str]:
    with _forward_interrupts([f.process for f in forked]):
        payloads = _collect({f.channel: k for k, f in enumerate(forked)}, len(forked), tick)
    raised: WorkerError | None = None
    answers: list[bytes | str] = []
    for (process, _), payload in zip(forked, payloads, strict=True):
        process.join()
        if isinstance(payload, WorkerError):
            raised = payload
            payload = payload.message
        gone = f"its worker process exited with code {process.exitcode}"
        answers.append(gone if payload is None else payload)
    if raised is not None:
        raise raised
    return answers


def _collect(
    channels: dict[Connection, int], count: int, tick: Tick
) -> list[bytes | str | WorkerError | None]:
    payloads: list[bytes | str | WorkerError | None] = [None] * count
    while channels:
        for ready in wait(list(channels)):
            assert isinstance(ready, Connection)
            try:
                message = ready.recv_bytes()
            except (EOFError, OSError):
                del channels[ready]
                continue
            kind, body = message[:1], message[1:]
            if kind == _TICK:
                for _ in range(int(body)):
                    tick()
            elif kind == _DONE:
                payloads[channels[ready]] = body
            elif kind == _FAILED:
                payloads[channels[ready]] = body.decode("utf-8", "replace")
            elif kind == _ALM_ERROR:
                code, _, text = body.decode("utf-8", "replace").partition(" ")
                payloads[channels[ready]] = WorkerError(text, ExitCode(int(code)))
    return payloads


@contextmanager
def _forward_interrupts(processes: Sequence[multiprocessing.process.BaseProcess]) -> Iterator[None]:
    def forward(_signum: int, _frame: FrameType | None) -> None:
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _child(job: Job, send: Connection) -> None:
    os.setpgrp()  # a terminal's Ctrl-C goes to the parent, which forwards it once
    signal.signal(signal.SIGINT, signal.default_int_handler)  # asyncio.run cancels on it
    progress = _Progress(send)
    try:
        records = job(progress.tick)
        progress.flush()
        send.send_bytes(_DONE + records)
    except (BrokenPipeError, _Unused):  # the parent has gone, or did not need this one
        pass
    except KeyboardInterrupt:  # stopped before its event loop ran: its trials are not run
        _failed(send, _FAILED, "the run was interrupted first")
    except AlmError as exc:  # the parent says it, with its exit code
        _failed(send, _ALM_ERROR, f"{int(exc.exit_code)} {exc.message}")
    except Exception as exc:  # a bug: said once by the parent, not as a child's traceback
        _failed(send, _FAILED, f"its worker process failed: {type(exc).__name__}: {exc}")
    finally:
        send.close()


class _Progress:
    """Finished trials, told to the parent at most every PROGRESS_S: a pipe write per
    trial, on the worker's event loop, cost it more than the trial's own bookkeeping."""

    def __init__(self, send: Connection) -> None:
        self.send = send
        self.unsent = 0
        self.last = time.monotonic()

    def tick(self) -> None:
        self.unsent += 1
        if time.monotonic() - self.last >= PROGRESS_S:
            self.flush()

    def flush(self) -> None:
        if self.unsent:
            self.send.send_bytes(_TICK + str(self.unsent).encode())
        self.unsent, self.last = 0, time.monotonic()


def _failed(send: Connection, kind: bytes, reason: str) -> None:
    with suppress(OSError):
        send.send_bytes(kind + reason.encode("utf-8"))
