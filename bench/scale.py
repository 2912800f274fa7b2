"""Issue 13's scale figures: how wall, CPU and memory grow with the run, each a whole process.

(a) Calls: ``alm eval --mode live`` at 200, 2,000 and 20,000 model calls (concurrency 50,
    a local server answering after 100 ms), on eval_side_by_side's synthetic repos, with
    alm's default workers (one per core from 100 trials on).
(b) Agents: ``alm validate``, ``alm policy check --base --head`` and ``alm plan --base
    --head --json`` on fleets of 4 (the example fleet, one agent's description edited in
    head), 50, 200 and 1,000 agents (bench.fleet's cached fleets, cloned, with this
    repository's starter policies committed under the base and the head change, ~5% of
    the agents, picked on top). The synthetic fleets have no cassettes, so plan's evals of
    the changed agents are "not run" and its verdict is blocked (exit 1). The caches in
    .alm/ (parse cache, eval results) are removed before every run: each is a fresh
    checkout's first run, as in CI, and does the same work (a warm validate re-reads parsed
    files from .alm/cache/parse.json and does much less).

Each figure is one process measured from outside (bench.process_measure.spawn: wall; CPU,
user + sys of it and the children it waited for such as eval's workers and git, from
os.wait4; peak memory, the larger of the largest process's peak RSS and the sampled PSS of
the whole process tree, as eval_side_by_side reports it, for eval; the largest process's
peak RSS for the other commands). Of ``--runs`` runs the one with the least CPU is kept
(the verdicts are on CPU; the least is the least disturbed); 20,000 calls runs once (a
minute or two), 1,000 agents at most twice. An unexpected exit code or output raises with
the output, so a broken command cannot look fast.

Marginal cost between consecutive sizes: (cpu2 - cpu1) / (n2 - n1), the same for wall and
memory. Linearity targets, on CPU (steadier than wall on a shared 2-core machine): the
marginal CPU per call from 2,000 to 20,000 at most 1.25x the one from 200 to 2,000, and for
each command the marginal CPU per agent from 200 to 1,000 at most 1.25x the one from 50 to
200. A per-item cost that grows with the run
shows as a larger marginal at the larger sizes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from itertools import pairwise
from pathlib import Path

from bench import PROJECT_ROOT, Config, Result
from bench.fleet import BASE_TAG, HEAD_TAG, cached_fleet, git
from bench.process_measure import Run, peak_mb, spawn
from tests.gitrepo import init_repo

# bench.eval_side_by_side and bench.bench_evals import the eval engine (~0.5 s): they are
# imported in the functions that use them, so that importing this module stays cheap

CALL_SIZES = (200, 2000, 20000)
AGENT_SIZES = (4, 50, 200, 1000)
LINEAR_LIMIT = 1.25
SCALE_BASE = "scale-base"
SCALE_HEAD = "scale-head"
FLEET_OWN = ("tools.yaml", "environments.yaml")  # the synthetic fleet's own, not starters

Series = list[tuple[int, Run]]  # (size, run), sizes ascending


def runs_for(config: Config, size: int, sizes: tuple[int, ...], largest: int) -> int:
    """--runs, but only `largest` at the largest size: the long one, and the least noisy."""
    return min(largest, config.runs) if size == sizes[-1] else config.runs


def rss_mb(run: Run) -> float:
    """The largest process's peak RSS: for the commands without workers, whose sampled
    tree PSS would count whichever short git child happened to be alive at a sample."""
    return run.rss_mb


def cheapest(runs: int, make: Callable[[], Run]) -> Run:
    return min((make() for _ in range(runs)), key=lambda run: run.cpu_s)


def marginals(
    series: Series, memory: Callable[[Run], float] = peak_mb
) -> list[tuple[int, int, float, float, float]]:
    """(n1, n2, wall, CPU seconds, memory MB) per added item, between consecutive sizes."""
    out = []
    for (n1, r1), (n2, r2) in pairwise(series):
        step = n2 - n1
        out.append(
            (
                n1,
                n2,
                (r2.wall_s - r1.wall_s) / step,
                (r2.cpu_s - r1.cpu_s) / step,
                (memory(r2) - memory(r1)) / step,
            )
        )
    return out


def marginal_results(
    prefix: str, series: Series, unit: str, memory: Callable[[Run], float], memory_name: str
) -> list[Result]:
    """Per step between consecutive sizes, the marginal CPU per ``unit`` in ms, with the
    marginal wall and memory (kB per unit, i.e. MB per 1,000) in the note and extra."""
    return [
        Result(
            f"{prefix}.{n1}_{n2}.marginal_cpu_per_{unit}",
            round(cpu * 1000, 3),
            "ms",
            note=f"wall {wall * 1000:.2f} ms, {memory_name} {mem * 1000:.1f} kB per {unit}",
            extra={"wall_ms": wall * 1000, "memory_kb": mem * 1000},
        )
        for n1, n2, wall, cpu, mem in marginals(series, memory)
    ]


def linearity(name: str, series: Series, unit: str, note: str) -> Result:
    """The last marginal CPU per item over the one before it: <= 1.25 when linear."""
    steps = marginals(series)
    (a1, a2, _, small, _), (b1, b2, _, large, _) = steps[-2], steps[-1]
    ratio = large / small if small > 0 else float("inf")
    detail = (
        f"marginal CPU per {unit} {b1}->{b2}: {large * 1000:.3f} ms, "
        f"{a1}->{a2}: {small * 1000:.3f} ms; {note}"
    )
    return Result(
        name, round(ratio, 3), "x", f"<= {LINEAR_LIMIT:g} x", ratio <= LINEAR_LIMIT, detail
    )


# --- (a) calls -----------------------------------------------------------------------


def call_series(config: Config, folder: Path, env: dict[str, str]) -> Series:
    from bench.eval_side_by_side import alm_calls, alm_eval, eval_repo

    series: Series = []
    for calls in CALL_SIZES:
        repo = eval_repo(folder, calls // 2)  # two calls per case
        if not series:
            alm_eval(repo, env)  # warm-up: bytecode, page cache, the server
        run = cheapest(runs_for(config, calls, CALL_SIZES, 1), partial(alm_eval, repo, env))
        if alm_calls(run) != calls:
            raise RuntimeError(f"alm eval made {alm_calls(run)} calls, not {calls}")
        series.append((calls, run))
    return series


def ideal_s(calls: int) -> float:
    from bench.eval_side_by_side import CONCURRENCY, LATENCY_S

    return calls / CONCURRENCY * LATENCY_S


def call_table(series: Series) -> list[str]:
    rows = [
        "| calls | wall | of the ideal | CPU | CPU per call | peak memory "
        "| marginal CPU per call | marginal memory per 1,000 calls |",
        "|---|---|---|---|---|---|---|---|",
    ]
    steps = {n2: (cpu, mem) for _, n2, _, cpu, mem in marginals(series)}
    for calls, run in series:
        ideal = ideal_s(calls)
        cpu, mem = steps.get(calls, (None, None))
        rows.append(
            f"| {calls:,} | {run.wall_s:.1f} s | {ideal / run.wall_s:.2f} | {run.cpu_s:.1f} s "
            f"| {run.cpu_s / calls * 1000:.2f} ms | {peak_mb(run):.0f} MB "
            f"| {'-' if cpu is None else f'{cpu * 1000:.2f} ms'} "
            f"| {'-' if mem is None else f'{mem * 1000:.1f} MB'} |"
        )
    return rows


def call_results(series: Series) -> list[Result]:
    results = []
    for calls, run in series:
        ideal = ideal_s(calls)
        note = (
            f"ideal {ideal:g} s, of the ideal {ideal / run.wall_s:.2f}; CPU {run.cpu_s:.2f} s "
            f"= {run.cpu_s / calls * 1000:.2f} ms/call; peak memory {peak_mb(run):.0f} MB"
        )
        extra = {"calls": calls, "cpu_s": run.cpu_s, "peak_mb": peak_mb(run)}
        results.append(Result(f"scale.calls.{calls}.wall", run.wall_s, "s", note=note, extra=extra))
    results += marginal_results("scale.calls", series, "call", peak_mb, "peak memory")
    results.append(linearity("scale.calls.linear", series, "call", "alm eval --mode live"))
    return results


def calls_family(config: Config) -> tuple[list[Result], list[str]]:
    from bench.bench_evals import start_server
    from bench.eval_side_by_side import LATENCY_S, STEPS

    server, base_url = start_server(LATENCY_S, STEPS)
    env = os.environ | {
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": base_url,
        "ALM_OPENAI_BASE_URL": base_url,
    }
    try:
        with tempfile.TemporaryDirectory() as name:
            series = call_series(config, Path(name), env)
    finally:
        server.terminate()
        server.wait()
    return call_results(series), call_table(series)


# --- (b) agents ----------------------------------------------------------------------


def example_fleet(folder: Path) -> Path:
    """The example fleet (4 agents) at base; head edits one agent's description."""
    repo = init_repo(folder / "fleet-4")
    repo.git("tag", SCALE_BASE)
    repo.replace("agents/support-triage/agent.yaml", "description: First-line", "description: The")
    repo.commit("support-triage: description")
    repo.git("tag", SCALE_HEAD)
    return repo.path


def synthetic_fleet(config: Config, folder: Path, agents: int) -> Path:
    """bench.fleet's fleet, cloned; the starter policies committed on its base, then its
    head change picked on top, so both refs have policies to check."""
    fleet, _ = cached_fleet(config.cache, agents, config.grants)
    root = folder / f"fleet-{agents}"
    git(folder, "clone", "-q", str(fleet.root), str(root))
    git(root, "checkout", "-q", "-b", "scale", BASE_TAG)
    for policy in sorted((PROJECT_ROOT / "policies").glob("*.yaml")):
        if policy.name not in FLEET_OWN:
            shutil.copyfile(policy, root / "policies" / policy.name)
    git(root, "add", "-A")
    git(root, "-c", "commit.gpgsign=false", "commit", "-q", "-m", "starter policies")
    git(root, "tag", SCALE_BASE)
    git(root, "-c", "commit.gpgsign=false", "cherry-pick", HEAD_TAG)
    git(root, "tag", SCALE_HEAD)
    return root


def check_validate(run: Run, _: Path) -> str:
    if run.code != 0 or not re.search(r"valid: .* 0 errors", run.output):
        raise RuntimeError(f"alm validate exited {run.code}: {run.output[-2000:]}")
    return "valid"


def check_policy(run: Run, _: Path) -> str:
    found = re.search(r"policy check (passed|failed): (\d+) errors", run.output)
    expected = {0: "passed", 1: "failed"}.get(run.code)
    if found is None or found.group(1) != expected:
        raise RuntimeError(f"alm policy check exited {run.code}: {run.output[-2000:]}")
    return f"exit {run.code}, {found.group(2)} errors"


def check_plan(run: Run, out: Path) -> str:
    report = json.loads(out.read_text("utf-8")) if out.is_file() else {}
    status = report.get("verdict", {}).get("status")
    allowed = {0: ("ready", "pending"), 1: ("blocked",)}.get(run.code, ())
    if status not in allowed:
        raise RuntimeError(f"alm plan exited {run.code}, verdict {status}: {run.output[-2000:]}")
    return f"exit {run.code}, {status}"


Command = tuple[Callable[[Path], list[str]], Callable[[Run, Path], str]]
COMMANDS: dict[str, Command] = {
    "validate": (lambda _: ["validate"], check_validate),
    "policy check": (
        lambda _: ["policy", "check", "--base", SCALE_BASE, "--head", SCALE_HEAD],
        check_policy,
    ),
    "plan": (
        lambda out: ["plan", "--base", SCALE_BASE, "--head", SCALE_HEAD, "--json", str(out)],
        check_plan,
    ),
}


def alm(root: Path, command: str, out: Path) -> tuple[Run, str]:
    """One whole `alm COMMAND` process in root, its exit code and output checked."""
    args, check = COMMANDS[command]
    shutil.rmtree(root / ".alm", ignore_errors=True)  # parse and result caches: cold each run
    out.unlink(missing_ok=True)
    command_line = [sys.executable, "-m", "reconciler", "-C", str(root), *args(out)]
    run = spawn(command_line, dict(os.environ), PROJECT_ROOT)
    return run, check(run, out)


def agent_series(config: Config, folder: Path) -> dict[str, tuple[Series, list[str]]]:
    """Per command: (size, best run) ascending, and what each size's run said."""
    found: dict[str, tuple[Series, list[str]]] = {name: ([], []) for name in COMMANDS}
    out = folder / "plan.json"
    for agents in AGENT_SIZES:
        root = example_fleet(folder) if agents == 4 else synthetic_fleet(config, folder, agents)
        if agents == AGENT_SIZES[0]:
            alm(root, "validate", out)  # warm-up: bytecode, page cache
        for name, (series, said) in found.items():
            runs = [alm(root, name, out) for _ in range(runs_for(config, agents, AGENT_SIZES, 2))]
            run, outcome = min(runs, key=lambda pair: pair[0].cpu_s)
            series.append((agents, run))
            said.append(outcome)
    return found


def agent_table(found: dict[str, tuple[Series, list[str]]]) -> list[str]:
    rows = [
        "| command | agents | wall | CPU | peak RSS | marginal wall per agent "
        "| marginal CPU per agent | marginal RSS per agent | outcome |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, (series, said) in found.items():
        steps = {n2: step for _, n2, *step in marginals(series, rss_mb)}
        for (agents, run), outcome in zip(series, said, strict=True):
            wall, cpu, mem = steps.get(agents, (None, None, None))
            rows.append(
                f"| alm {name} | {agents:,} | {run.wall_s:.2f} s | {run.cpu_s:.2f} s "
                f"| {rss_mb(run):.0f} MB | {_ms(wall)} | {_ms(cpu)} "
                f"| {'-' if mem is None else f'{mem * 1000:.0f} kB'} | {outcome} |"
            )
    return rows


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f} ms"


def agent_results(found: dict[str, tuple[Series, list[str]]]) -> list[Result]:
    results = []
    for name, (series, said) in found.items():
        key = name.replace(" ", "_")
        for (agents, run), outcome in zip(series, said, strict=True):
            note = f"CPU {run.cpu_s:.2f} s, peak RSS {rss_mb(run):.0f} MB; {outcome}"
            extra = {"agents": agents, "cpu_s": run.cpu_s, "rss_mb": rss_mb(run)}
            results.append(
                Result(f"scale.{key}.{agents}.wall", run.wall_s, "s", note=note, extra=extra)
            )
        results += marginal_results(f"scale.{key}", series, "agent", rss_mb, "peak RSS")
        results.append(linearity(f"scale.{key}.linear", series, "agent", f"alm {name}"))
    return results


def agents_family(config: Config) -> tuple[list[Result], list[str]]:
    with tempfile.TemporaryDirectory() as name:
        found = agent_series(config, Path(name))
    return agent_results(found), agent_table(found)


def run(config: Config) -> list[Result]:
    results: list[Result] = []
    for family, measure in (("calls", calls_family), ("agents", agents_family)):
        figures, table = measure(config)
        load = "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
        note = "\n".join([f"scale, {family} ({load}):", *table])
        results += [*figures, Result(f"scale.{family}.table", len(table) - 2, "rows", note=note)]
    return results
