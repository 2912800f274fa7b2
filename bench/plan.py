"""`alm plan` on a 200-agent fleet where one agent changed, with warm caches.

The fleet (bench.fleet: 200 agents x ``--grants`` grants, 2-3 cases each) is committed as
the base together with cassettes for every agent, recorded by ``alm eval --mode record``
against the local OpenAI-compatible server (tests.openai_server, in its own process,
answering "Done." at once: the trials are graded, most of them failed, which is all the
timing needs). The head commit swaps one agent's model and records that agent's
cassettes, as the pull request changing it would. The repository is kept under
bench/results/ and reused while the generator is unchanged.

Then ``alm plan --base HEAD~1 --head HEAD --json plan.json`` (replay: no server, no key)
runs once to warm the result cache (.alm/cache/evals.sqlite), and ``--runs`` more times,
each timed in its own process, as a user runs it. Targets:

- the best warm run finishes in under 5 s;
- the plan evaluates only the changed agent: evals.agents names it alone, and its trial
  counts (run + cached + not run) are that agent's trials on base and head, every one
  from the cache on a warm run.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench import PROJECT_ROOT, Config, Result, below
from bench.bench_evals import start_server
from bench.fleet import DEFAULT_SEED, MODELS, git, plan_agents, write_agent, write_fleet
from reconciler.evals.run import plan_jobs
from reconciler.spec.loader import load_ref

AGENTS = 200
TARGET_S = 5.0
FLEET_VERSION = 1  # bump when the way this fleet is made changes
ANSWER = [{"content": "Done."}]
ALM = [sys.executable, "-m", "reconciler"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _alm(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, float, str]:
    """Run alm in its own process in root: (exit code, wall seconds, stderr)."""
    code, wall, _, err = _timed(root, *args, env=env)
    return code, wall, err


def _timed(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, float, float, str]:
    """(exit code, wall seconds, CPU seconds of it and its children such as git, stderr)."""
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        [*ALM, "-C", str(root), *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {}), "PYTHONPATH": str(PROJECT_ROOT)},
        check=False,
    )
    wall = time.perf_counter() - started
    return done.returncode, wall, _children_cpu() - cpu, done.stderr.strip()


def _record(root: Path, *agents: str) -> None:
    """Record cassettes (all agents, or these) against the local server."""
    server, base_url = start_server(0.0, ANSWER)
    env = {"OPENAI_API_KEY": "sk-bench", "ALM_OPENAI_BASE_URL": base_url}
    try:
        args = [a for name in agents for a in ("--agent", name)]
        code, _, err = _alm(root, "eval", "--mode", "record", "--no-cache", *args, env=env)
    finally:
        server.terminate()
        server.wait()
    if code not in (0, 1):  # 1: gates failed, as expected of "Done."
        raise RuntimeError(f"alm eval --mode record exited {code}: {err[-500:]}")


def _commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "-c", "commit.gpgsign=false", "commit", "-q", "-m", message)


def make_fleet(root: Path, grants: int) -> str:
    """The repository: base (fleet + cassettes), head (one model swap + its cassettes).
    Returns the changed agent's name."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    tools, plans = plan_agents(AGENTS, grants, DEFAULT_SEED)
    write_fleet(root, tools, plans)
    (root / ".gitignore").write_text(".alm/\n.bench-plan.json\n", encoding="utf-8")
    _record(root)
    _commit(root, f"{AGENTS} agents with their cassettes")
    plan = plans[AGENTS // 2]
    swapped = replace(plan, model=MODELS[(MODELS.index(plan.model) + 1) % len(MODELS)])
    write_agent(root, swapped, {t.name: t for t in tools})
    _record(root, plan.name)
    _commit(root, f"{plan.name}: {plan.model} -> {swapped.model}")
    return plan.name


def cached_fleet(cache: Path, grants: int) -> tuple[Path, str, bool]:
    """(root, changed agent, reused): the fleet under cache/, made once per version."""
    root = cache / f"plan-fleet-{AGENTS}-{grants}-v{FLEET_VERSION}"
    marker = root / ".bench-plan.json"
    if marker.is_file():
        data = json.loads(marker.read_text(encoding="utf-8"))
        if git(root, "rev-parse", "HEAD") == data.get("head"):
            return root, str(data["changed"]), True
    if root.exists():
        subprocess.run(["rm", "-rf", str(root)], check=True)
    changed = make_fleet(root, grants)
    head = git(root, "rev-parse", "HEAD")
    marker.write_text(json.dumps({"head": head, "changed": changed}), encoding="utf-8")
    return root, changed, False


@dataclass(frozen=True)
class PlanRun:
    code: int
    wall: float
    cpu: float
    report: dict[str, Any] | None
    err: str


def _plan(root: Path, out: Path) -> PlanRun:
    out.unlink(missing_ok=True)
    args = ("plan", "--base", "HEAD~1", "--head", "HEAD", "--json", str(out))
    code, wall, cpu, err = _timed(root, *args)
    report = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else None
    return PlanRun(code, wall, cpu, report, err)


def _expected_trials(root: Path, agent: str) -> int:
    """The changed agent's trials on base plus head."""
    return sum(len(plan_jobs(load_ref(root, ref), [agent])) for ref in ("HEAD~1", "HEAD"))


def _scope(report: dict[str, Any], agent: str, expected: int) -> Result:
    evals = report.get("evals", {})
    names = [a.get("agent") for a in evals.get("agents", [])]
    trials = {k: int(v) for k, v in evals.get("trials", {}).items()}
    done = sum(trials.get(k, 0) for k in ("run", "cached", "not_run"))
    ok = names == [agent] and done == expected and trials.get("cached") == expected
    return Result(
        "plan.200_agents.evaluated_agents",
        len(names),
        "agents",
        f"== 1 ({agent}), {expected} trials, all cached",
        ok,
        f"evals.agents {names}; trials {trials} (expected {expected}); "
        f"verdict {report.get('verdict', {}).get('status')}",
    )


def run(config: Config) -> list[Result]:
    root, agent, reused = cached_fleet(config.cache, config.grants)
    out = root / ".alm" / "bench-plan.json"
    out.parent.mkdir(exist_ok=True)
    first = _plan(root, out)  # warms the caches
    if first.report is None:
        note = f"alm plan exited {first.code} and wrote no plan JSON: {first.err[-300:]}"
        return [Result("plan.200_agents.warm.wall", 0, "s", f"< {TARGET_S:g} s", False, note)]
    runs = [_plan(root, out) for _ in range(config.runs)]
    last = runs[-1].report or {}
    walls = [r.wall for r in runs]
    note = (
        f"best of {len(runs)} warm runs (median {statistics.median(walls):.2f} s; "
        f"first run {first.wall:.2f} s); exit {runs[-1].code}; "
        f"fleet {'reused' if reused else 'made'} at {root}"
    )
    cpu_note = "CPU of alm and its git processes: steadier than wall on a loaded machine"
    return [
        below("plan.200_agents.warm.wall", min(walls), "s", TARGET_S, note),
        Result("plan.200_agents.warm.cpu", min(r.cpu for r in runs), "s", note=cpu_note),
        _scope(last, agent, _expected_trials(root, agent)),
    ]
