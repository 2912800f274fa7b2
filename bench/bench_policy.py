"""Policy evaluation over a large fleet: the starter policies, base and head.

The synthetic fleet (bench.fleet, N agents x G grants) is loaded at its base and
head tags (loading is bench_load's figure, not this one's); the starter policies
of this repository are evaluated over it as `alm policy check --base` does:
head with oldObject from base, base again for the changed agents (to tell new
violations), the Change policies, CODEOWNERS requirements. Target: < 1 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench import PROJECT_ROOT, Config, Result, below
from bench.fleet import BASE_TAG, HEAD_TAG, cached_fleet
from reconciler.policy import codeowners
from reconciler.policy.changes import changed_files
from reconciler.policy.check import CheckInput, check
from reconciler.policy.compiler import compile_policies
from reconciler.policy.secrets import scan
from reconciler.spec import source
from reconciler.spec.loader import load_ref, load_snapshot, load_worktree

CHECK_TARGET_S = 1.0


def _timed(fn: Callable[[], Any], runs: int) -> tuple[float, list[float], list[float], Any]:
    """(first wall, later walls, later CPU times, last result)."""
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(max(runs, 1)):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return first, walls, cpus, result


def run(config: Config) -> list[Result]:
    fleet, _ = cached_fleet(config.cache, config.agents, config.grants)
    base = load_ref(fleet.root, BASE_TAG)
    snapshot = source.from_git(fleet.root, HEAD_TAG)
    head = load_snapshot(snapshot)
    starter = load_worktree(PROJECT_ROOT).policies
    head.policies = starter
    changed = tuple(changed_files(fleet.root, BASE_TAG, HEAD_TAG))
    owners = codeowners.parse(codeowners.generate(base))
    inp = CheckInput(head, {}, base, changed, owners)
    size = f"{len(head.agents)} agents x {config.grants} grants, {len(changed)} files changed"

    compile_s = _timed(lambda: compile_policies(starter), config.runs)[1]
    first, walls, cpus, report = _timed(lambda: check(inp), config.runs)
    files = {path: blob.data for path, blob in snapshot.files.items()}
    scan_walls = _timed(lambda: scan(files), config.runs)[1]
    megabytes = sum(len(data or b"") for data in files.values()) / 1e6
    evaluations = f"{report.rules} rules of {report.policies} policies"
    return [
        Result("policy.compile", min(compile_s), "s", note=f"{evaluations}, compiled once"),
        below(
            f"policy.check.best_of_{config.runs}",
            min(walls),
            "s",
            CHECK_TARGET_S,
            f"{size}; base and head; CPU {min(cpus):.3f} s; runs "
            + ", ".join(f"{w:.3f}" for w in walls),
        ),
        Result(
            "policy.check.first",
            first,
            "s",
            note=f"first run in this process; {report.errors} errors, "
            f"{len(report.approvals)} approvals required",
        ),
        Result("policy.secrets", min(scan_walls), "s", note=f"{megabytes:.1f} MB of head files"),
    ]
