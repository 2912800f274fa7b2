"""Issue 13's table: `alm eval`, promptfoo, the openai client alone and a raw asyncio
client, each a whole process.

In one run, against one local OpenAI-compatible server answering after 100 ms in its own
process (tests/openai_server.py), each contender makes 2,000 model calls at concurrency 50
(ideal: 2,000 / 50 x 0.1 s = 4.0 s) and is measured from outside (bench/process_measure.py):
wall from spawn to exit; CPU (user + sys, worker processes included) from rusage; peak
memory, the larger of the largest process's peak RSS and the sampled peak PSS of all of
its processes; start-up included.

- alm: ``python -m reconciler -C REPO eval --mode live --concurrency 50 --no-cache`` on a
  synthetic repo (the example fleet, plus 1,000 two-call cases for email-drafting: a tool
  call through the sandbox, then the answer), with ALM_OPENAI_BASE_URL at the server,
  default workers; the same command selecting no case (start-up); and the time from spawn
  to the first request the server sees, on the example fleet and on the 1,000-case repo.
  Targets: >= 0.90 of the ideal, < 2 ms CPU per call, < 150 MB, first call < 0.5 s.
- promptfoo (npm; bench/promptfoo_contender.py), or "not run" with the reason.
- bench/plain_client.py: the official openai client alone, as alm calls it (its aiohttp
  transport, its generic post): the floor of any harness that goes through the client.
- bench/raw_client.py: asyncio streams and nothing else: the network's floor.

Best of ``--runs`` per contender (by wall). The no-case run exits 2 (a usage error: no
case matches), so it measures imports and loading, not the provider client's set-up.
How alm eval grows from 200 to 20,000 calls: bench/scale.py.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import PROJECT_ROOT, Config, Result, below
from bench.bench_evals import start_server
from bench.process_measure import Run, best, first_call_s, peak_mb, spawn
from bench.promptfoo_contender import Load, promptfoo_best, promptfoo_bin
from tests.gitrepo import init_repo

LATENCY_S = 0.1
CONCURRENCY = 50
CALLS = 2000
MODEL = "gpt-4.1-mini"
AGENT = "email-drafting"
STEPS: list[dict[str, Any]] = [
    {"tool_calls": [{"name": "crm__get_account", "arguments": {"account_id": "ACC-30412"}}]},
    {"content": "Drafted DR-3f9a12c0 for Joanna."},
]
CASE = """\
  - id: case-{n:05d}
    input:
      message: "Draft a renewal reminder for Initech (ACC-30412), request {n}."
    fixtures:
      - tool: crm.get_account
        args: {{account_id: ACC-30412}}
        returns: {{account_id: ACC-30412, name: Initech, renewal_date: "2025-01-31"}}
    expect:
      outcome: resolved
      tool_calls:
        - tool: crm.get_account
          args: {{account_id: ACC-30412}}
      output:
        contains: [DR-3f9a12c0]
"""
SUITE = """\
apiVersion: alm/v1
kind: EvalSuite
metadata: {{name: bench-{k:03d}, agent: email-drafting}}
defaults: {{repeats: 1}}
cases:
"""


def eval_repo(folder: Path, cases: int) -> Path:
    """The example fleet with `cases` two-call cases for email-drafting, 100 per suite."""
    repo = init_repo(folder / f"repo-{cases}")
    suites = repo.path / "evals" / AGENT
    for example in suites.glob("*.yaml"):  # the example's own cases would add calls
        example.unlink()
    for k, first in enumerate(range(0, cases, 100)):
        body = "".join(CASE.format(n=n) for n in range(first, min(first + 100, cases)))
        (suites / f"bench-{k:03d}.yaml").write_text(SUITE.format(k=k) + body, "utf-8")
    repo.commit("bench cases")
    return repo.path


def alm_eval(repo: Path, env: dict[str, str], *select: str, stamp: Path | None = None) -> Run:
    """``stamp``: removed first, so the server writes the time of this run's first call."""
    command = [sys.executable, "-m", "reconciler", "-C", str(repo), "eval", "--mode", "live"]
    command += ["--agent", AGENT, "--concurrency", str(CONCURRENCY), "--no-cache", *select]
    if stamp is not None:
        stamp.unlink(missing_ok=True)
    return spawn(command, env, PROJECT_ROOT)


def alm_calls(run: Run) -> int:
    """The model calls alm says it made (its exit code is the gate's, 0 or 1)."""
    found = re.search(r"(\d+) model calls", run.output)
    if run.code not in (0, 1) or found is None:
        raise RuntimeError(f"alm eval exited {run.code}: {run.output[-2000:]}")
    return int(found.group(1))


def plain(env: dict[str, str], client: str = "bench.plain_client") -> Run:
    """A client alone as its own process: the official one (bench.plain_client) or none
    at all (bench.raw_client); raises when a call failed."""
    command = [sys.executable, "-m", client, "--calls", str(CALLS)]
    command += ["--concurrency", str(CONCURRENCY), "--model", MODEL]
    run = spawn(command, env, PROJECT_ROOT)
    if run.code != 0:
        raise RuntimeError(f"{client} failed: {run.output[-2000:]}")
    return run


def figures(who: str, run: Run, calls: int, alm: bool) -> list[Result]:
    """wall, fraction of the ideal, CPU per call and peak RSS; alm's against its targets."""
    ideal = calls / CONCURRENCY * LATENCY_S
    share = ideal / run.wall_s
    note = f"{calls} calls, concurrency {CONCURRENCY}, {LATENCY_S * 1000:g} ms; ideal {ideal:g} s"
    cpu_ms = run.cpu_s / calls * 1000
    name = f"side_by_side.{who}"
    if not alm:
        return [
            Result(f"{name}.wall", run.wall_s, "s", note=note),
            Result(f"{name}.of_ideal", round(share, 3), "x"),
            Result(f"{name}.cpu_per_call", round(cpu_ms, 3), "ms"),
            Result(f"{name}.peak_rss", peak_mb(run), "MB"),
        ]
    return [
        Result(f"{name}.wall", run.wall_s, "s", note=note),
        Result(f"{name}.of_ideal", round(share, 3), "x", ">= 0.9 x", share >= 0.90),
        below(f"{name}.cpu_per_call", round(cpu_ms, 3), "ms", 2.0, "start-up included"),
        below(f"{name}.peak_rss", peak_mb(run), "MB", 150.0, "all processes"),
    ]


def row(who: str, run: Run | None, calls: int) -> str:
    if run is None:
        return f"| {who} | not run | | | |"
    ideal = calls / CONCURRENCY * LATENCY_S
    return (
        f"| {who} | {run.wall_s:.1f} s | {ideal / run.wall_s:.2f} | "
        f"{run.cpu_s / calls * 1000:.2f} ms | {peak_mb(run):.0f} MB |"
    )


def run(config: Config) -> list[Result]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        stamp = folder / "first-request"
        server, base_url = start_server(LATENCY_S, STEPS, stamp)
        env = os.environ | {
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": base_url,
            "ALM_OPENAI_BASE_URL": base_url,
        }
        try:
            return contenders(config, folder, base_url, env, stamp)
        finally:
            server.terminate()
            server.wait()


def first_calls(config: Config, folder: Path, env: dict[str, str], stamp: Path) -> list[Result]:
    """From spawn to the first request the server sees: the example fleet's email-drafting
    (5 cases) and the 1,000-case repo. Target 0.5 s."""
    example = init_repo(folder / "example").path
    results = []
    for name, repo, select in (
        ("example_fleet", example, ()),
        ("cases_1000", folder / f"repo-{CALLS // 2}", ("--case", "case-0000[0-4]")),
    ):
        seen = []
        for _ in range(config.runs):
            done = alm_eval(repo, env, *select, stamp=stamp)
            alm_calls(done)
            seen.append(first_call_s(done, stamp))
        results.append(below(f"side_by_side.alm.first_call.{name}", round(min(seen), 3), "s", 0.5))
    results += client_import(config, env)
    return results


def client_import(config: Config, env: dict[str, str]) -> list[Result]:
    """A process that only imports the official client. No call through it can come
    sooner, so this is the floor of the 0.5 s first-call target; and with every call
    taking exactly its 100 ms, no run through it can do better than ideal / (ideal + this)."""
    command = [sys.executable, "-c", "import openai"]
    imported = round(best(config.runs, lambda: spawn(command, env, PROJECT_ROOT)).wall_s, 3)
    ideal = CALLS / CONCURRENCY * LATENCY_S
    return [
        Result(
            "side_by_side.openai_import",
            imported,
            "s",
            note="`python -c 'import openai'` as a whole process: the floor of any first "
            "call made through the official client (target for alm: 0.5 s)",
        ),
        Result(
            "side_by_side.of_ideal_ceiling",
            round(ideal / (ideal + imported), 3),
            "x",
            note=f"ideal / (ideal + that import): the most of the ideal any process that "
            f"imports the official client can reach, were its {CALLS} calls free "
            "(target for alm: 0.90)",
        ),
    ]


def contenders(
    config: Config, folder: Path, base_url: str, env: dict[str, str], stamp: Path
) -> list[Result]:
    repo = eval_repo(folder, CALLS // 2)
    alm_eval(repo, env, "--case", "case-0000[0-4]")  # warm-up: bytecode, page cache, server
    alm = best(config.runs, lambda: alm_eval(repo, env))
    if alm_calls(alm) != CALLS:
        raise RuntimeError(f"alm eval made {alm_calls(alm)} model calls, not {CALLS}")
    idle = best(config.runs, lambda: alm_eval(repo, env, "--case", "no-such-case"))
    client = best(config.runs, lambda: plain(env))
    floor = best(config.runs, lambda: plain(env, "bench.raw_client"))
    binary, how = promptfoo_bin()
    load = Load(CALLS, CONCURRENCY, MODEL)
    pf = (
        None if binary is None else promptfoo_best(config.runs, binary, folder, base_url, env, load)
    )
    if isinstance(pf, str):
        how, pf = pf, None
    table = [
        "| contender | wall | of the ideal | CPU per call | peak memory |",
        "|---|---|---|---|---|",
        row("alm eval", alm, CALLS),
        row(how if pf else f"promptfoo ({how})", pf, CALLS),
        row("the openai client alone, as alm calls it", client, CALLS),
        row("a plain asyncio client (no library)", floor, CALLS),
    ]
    results = figures("alm", alm, CALLS, alm=True)
    results.append(
        Result(
            "side_by_side.alm.startup_cpu",
            idle.cpu_s,
            "s",
            note=(
                f"the same command selecting no case (exit {idle.code}: it stops at selection, "
                f"before any client): {idle.wall_s:.2f} s wall, {peak_mb(idle):.0f} MB"
            ),
        )
    )
    results += first_calls(config, folder, env, stamp)
    if pf is None:
        results.append(Result("side_by_side.promptfoo", 0, "", "runs", None, f"not run: {how}"))
    else:
        results += figures("promptfoo", pf, CALLS, alm=False)
    results += figures("openai_client", client, CALLS, alm=False)
    results += figures("plain", floor, CALLS, alm=False)
    busy = "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    note = "\n".join([f"side by side ({busy}):", *table])
    results.append(Result("side_by_side.table", len(table) - 2, "rows", note=note))
    return results
