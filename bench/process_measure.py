"""One command as a whole process, measured from outside: what the eval and scale
benchmarks share.

``spawn`` runs it to the end and returns wall time from spawn to exit, CPU (user + sys)
and the largest process's peak RSS from its rusage (os.wait4, which also counts the
worker processes it reaped), and the peak of the summed PSS of the process and its
descendants, sampled every 50 ms (workers' shared copy-on-write pages counted once).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple


class Run(NamedTuple):
    wall_s: float
    cpu_s: float  # the process and every worker it waited for (wait4's rusage)
    rss_mb: float  # the largest single process's peak (wait4's ru_maxrss)
    code: int
    output: str
    tree_mb: float = 0.0  # peak of the summed PSS of the process and its workers (sampled)
    started: float = 0.0  # time.time() at spawn


def tree_pss_mb(pid: int) -> float:
    """The proportional set size of a process and its descendants, in MB: shared
    copy-on-write pages counted once across forked workers (an RSS sum would not)."""
    total_kb, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup", encoding="ascii") as rollup:
                total_kb += next(int(line.split()[1]) for line in rollup if line[:4] == "Pss:")
            children = Path(f"/proc/{current}/task/{current}/children").read_text("ascii")
        except (OSError, StopIteration, ValueError):
            continue  # it has exited between two reads
        todo.extend(int(child) for child in children.split())
    return total_kb / 1024


def spawn(command: Sequence[str], env: dict[str, str], cwd: Path, timeout_s: float = 900) -> Run:
    """One whole process, measured from outside: CPU and largest peak RSS from its rusage
    (os.wait4, which counts the workers it reaped), the whole tree's memory sampled."""
    tree_peak = 0.0
    with tempfile.TemporaryFile("w+") as out:
        epoch, started = time.time(), time.perf_counter()
        child = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        deadline, next_sample = started + timeout_s, 0.0
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            now = time.perf_counter()
            if now > deadline:
                child.kill()
            if now >= next_sample:  # every 50 ms: reading smaps costs the machine too
                tree_peak, next_sample = max(tree_peak, tree_pss_mb(child.pid)), now + 0.05
            time.sleep(0.005)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, cpu, usage.ru_maxrss / 1024, child.returncode, text, tree_peak, epoch)


def first_call_s(run: Run, stamp: Path) -> float:
    """From spawn to the server's first request (the server writes the stamp)."""
    return float(stamp.read_text("utf-8")) - run.started


def best(runs: int, make: Callable[[], Run]) -> Run:
    return min((make() for _ in range(runs)), key=lambda run: run.wall_s)


def peak_mb(run: Run) -> float:
    """Peak memory: the larger of the largest process's peak RSS and the sampled peak of
    all its processes' PSS (workers included)."""
    return round(max(run.rss_mb, run.tree_mb), 1)
