"""Work done on another core while this process goes on: a forked child computes a value
and sends it back pickled.

For work that is independent of what the parent does meanwhile and whose result is
cheaper to unpickle than to compute (e.g. reading and verifying every live bundle while
the fleet loads). Whatever goes wrong in the child (an error, a crash, a result that
does not pickle) is not reported from there: the parent runs the work itself, so errors
surface exactly as they would serially. Where fork is unavailable, or only one core is
usable, the work runs serially in the parent when its value is asked for.
"""

from __future__ import annotations

import gc
import os
import pickle
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def can_fork() -> bool:
    return hasattr(os, "fork") and _cores() > 1


def started(work: Callable[[], T]) -> Callable[[], T]:
    """Starts `work` in a forked child now; the returned function waits for its value
    (or, when the child could not give it, computes it here)."""
    if not can_fork():
        return work
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns, never runs the parent's exit handlers
        os.close(read_end)
        _child(work, write_end)
    os.close(write_end)

    def result() -> T:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()  # before waitpid: a full pipe would block the child
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0 or not data:
            return work()
        enabled = gc.isenabled()
        gc.disable()  # unpickling allocates many long-lived objects (reconciler.gcpause)
        try:
            value: T = pickle.loads(data)
        finally:
            if enabled:
                gc.enable()
        return value

    return result


def _child(work: Callable[[], T], fd: int) -> None:
    code = 1  # anything going wrong: the parent redoes the work and reports it
    try:
        data = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(data)
        code = 0
    finally:
        os._exit(code)  # also on an exception: nothing of it reaches the parent's streams
