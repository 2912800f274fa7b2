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
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from types import FrameType

from reconciler.evals.engine import EngineConfig, RateLimit

Tick = Callable[[], None]
Work = Callable[[Sequence[int], EngineConfig, Tick], bytes]  # a slice's records
_TICK = b"t"
_DONE = b"d"
_FAILED = b"f"
PROGRESS_S = 0.1
MIN_TRIALS_PER_WORKER = 50  # below this a worker's start-up outweighs what it saves


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def worker_count(requested: int | None, trials: int, concurrency: int) -> int:
    """``requested`` workers (None: one per core, if the run is big enough), never more
    than the trials or the concurrency allow."""
    if not can_fork():
        return 1
    wanted = cores() if requested is None else requested
    if requested is None:
        wanted = min(wanted, trials // MIN_TRIALS_PER_WORKER)
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


def run_forked(
    work: Work, parts: Sequence[Sequence[int]], config: EngineConfig, tick: Tick
) -> list[bytes | str]:
    """Runs ``work`` on each part in a forked worker: each part's records, or why there
    are none (the worker failed or died)."""
    context = multiprocessing.get_context("fork")
    channels: dict[Connection, int] = {}
    processes = []
    gc.freeze()  # the heap so far is shared: a worker's collections never touch (copy) it
    for k, part in enumerate(parts):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_child, args=(work, part, share(config, len(parts), k), send), daemon=True
        )
        process.start()
        send.close()  # the parent's copy: EOF on `receive` once the worker has gone
        channels[receive] = k
        processes.append(process)
    gc.unfreeze()
    with _forward_interrupts(processes):
        payloads = _collect(channels, len(parts), tick)
    for k, process in enumerate(processes):
        process.join()
        if payloads[k] is None:
            payloads[k] = f"its worker process exited with code {process.exitcode}"
    return [p if p is not None else "" for p in payloads]


def _collect(channels: dict[Connection, int], count: int, tick: Tick) -> list[bytes | str | None]:
    payloads: list[bytes | str | None] = [None] * count
    while channels:
        for ready in wait(list(channels)):
            assert isinstance(ready, Connection)
            try:
                message = ready.recv_bytes()
            except (EOFError, OSError):
                del channels[ready]
                continue
            if message.startswith(_TICK):
                for _ in range(int(message[len(_TICK) :])):
                    tick()
            elif message.startswith(_DONE):
                payloads[channels[ready]] = message[len(_DONE) :]
            elif message.startswith(_FAILED):
                payloads[channels[ready]] = message[len(_FAILED) :].decode("utf-8", "replace")
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


def _child(work: Work, part: Sequence[int], config: EngineConfig, send: Connection) -> None:
    os.setpgrp()  # a terminal's Ctrl-C goes to the parent, which forwards it once
    signal.signal(signal.SIGINT, signal.default_int_handler)  # asyncio.run cancels on it
    progress = _Progress(send)
    try:
        records = work(part, config, progress.tick)
        progress.flush()
        send.send_bytes(_DONE + records)
    except BrokenPipeError:  # the parent has gone: nobody to report to
        pass
    except KeyboardInterrupt:  # stopped before its event loop ran: its trials are not run
        _failed(send, "the run was interrupted first")
    except Exception as exc:  # a bug: said once by the parent, not as a child's traceback
        _failed(send, f"its worker process failed: {type(exc).__name__}: {exc}")
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


def _failed(send: Connection, reason: str) -> None:
    with suppress(OSError):
        send.send_bytes(_FAILED + reason.encode("utf-8"))
