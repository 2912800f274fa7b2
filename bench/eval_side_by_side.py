"""Issue 13's table: `alm eval`, promptfoo and a plain asyncio client, each a whole process.

In one run, against one local OpenAI-compatible server answering after 100 ms in its own
process (tests/openai_server.py), each contender makes 2,000 model calls at concurrency 50
(ideal: 2,000 / 50 x 0.1 s = 4.0 s) and is measured from outside: wall from spawn to exit;
CPU (user + sys) and peak RSS from the child's rusage (os.wait4), start-up included.

- alm: ``python -m reconciler -C REPO eval --mode live --concurrency 50 --no-cache`` on a
  synthetic repo (the example fleet, plus 1,000 two-call cases for email-drafting: a tool
  call through the sandbox, then the answer), with ALM_OPENAI_BASE_URL at the server; and
  the same command selecting no case (start-up). Targets: >= 0.90 of the ideal, < 2 ms
  CPU per call, < 150 MB peak RSS.
- promptfoo (npm), installed into bench/results/promptfoo-cache when npm is on PATH;
  otherwise reported as not run, with the reason.
- bench/plain_client.py: AsyncOpenAI and a semaphore, nothing else (the floor).

Scale: alm at 200 and 2,000 calls; set ALM_BENCH_EVAL_20K=1 to add 20,000 (about a minute
of wall on 2 cores, 10,000 synthetic cases, ~300 MB peak RSS today).

Best of ``--runs`` per contender (by wall). The no-case run exits 2 (a usage error: no
case matches), so it measures imports and loading, not the provider client's set-up.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from bench import PROJECT_ROOT, RESULTS_DIR, Config, Result, below
from bench.bench_evals import start_server
from tests.gitrepo import init_repo

LATENCY_S = 0.1
CONCURRENCY = 50
CALLS = 2000
MODEL = "gpt-4.1-mini"
AGENT = "email-drafting"
PROMPTFOO_VERSION = "0.121.20"
PROMPTFOO_CACHE = RESULTS_DIR / "promptfoo-cache"
SCALE_VARIABLE = "ALM_BENCH_EVAL_20K"
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


def best(runs: int, make: Callable[[], Run]) -> Run:
    return min((make() for _ in range(runs)), key=lambda run: run.wall_s)


def promptfoo_bin() -> tuple[Path | None, str]:
    """promptfoo from the bench cache, installed there (never globally) when npm is here."""
    binary = PROMPTFOO_CACHE / "node_modules" / ".bin" / "promptfoo"
    if binary.exists():
        return binary, promptfoo_version()
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not on PATH"
    PROMPTFOO_CACHE.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(PROMPTFOO_CACHE), "--no-audit", "--no-fund"]
    for version in (PROMPTFOO_VERSION, "latest"):
        try:
            done = subprocess.run(
                [*command, f"promptfoo@{version}"], capture_output=True, text=True, timeout=900
            )
        except subprocess.TimeoutExpired:
            return None, "npm install promptfoo timed out after 900 s"
        if done.returncode == 0 and binary.exists():
            return binary, promptfoo_version()
    return None, f"npm install promptfoo failed: {done.stderr.strip()[-300:]}"


def promptfoo_version() -> str:
    package = PROMPTFOO_CACHE / "node_modules" / "promptfoo" / "package.json"
    return f"promptfoo {json.loads(package.read_text('utf-8'))['version']}"


def promptfoo_config(folder: Path, base_url: str) -> Path:
    tests = [{"vars": {"n": n}} for n in range(CALLS)]
    config = {
        "description": "alm side-by-side",
        "prompts": ["Draft a renewal reminder for Initech (ACC-30412), request {{n}}."],
        "providers": [
            {"id": f"openai:chat:{MODEL}", "config": {"apiBaseUrl": base_url, "apiKey": "sk-b"}}
        ],
        "tests": tests,
        "evaluateOptions": {"maxConcurrency": CONCURRENCY, "cache": False},
        "sharing": False,
    }
    path = folder / "promptfooconfig.json"
    path.write_text(json.dumps(config), "utf-8")
    return path


def promptfoo(binary: Path, folder: Path, base_url: str, env: dict[str, str]) -> Run:
    home = folder / "promptfoo-home"
    home.mkdir(exist_ok=True)
    env = env | {
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_DISABLE_SHARING": "1",
        "PROMPTFOO_DISABLE_REMOTE_GENERATION": "1",
        "PROMPTFOO_CONFIG_DIR": str(home),
        "PROMPTFOO_CACHE_ENABLED": "false",
        "NO_COLOR": "1",
    }
    config = promptfoo_config(folder, base_url)
    command = [str(binary), "eval", "-c", str(config), "--no-cache", "-j", str(CONCURRENCY)]
    command += ["--no-table", "--no-progress-bar", "--no-share"]
    return spawn(command, env, folder)


def promptfoo_calls(run: Run) -> int:
    found = re.search(r"([\d,]+) passed", run.output) if run.code in (0, 100) else None
    return int(found.group(1).replace(",", "")) if found else 0


def promptfoo_best(
    runs: int, binary: Path, folder: Path, base_url: str, env: dict[str, str]
) -> Run | str:
    """The fastest of ``runs`` full runs; a crashed run is tried once more, then reported
    with its first error line (the whole output goes to bench/results/promptfoo-last.log)."""
    done: list[Run] = []
    for _ in range(runs + 1):
        run = promptfoo(binary, folder, base_url, env)
        (RESULTS_DIR / "promptfoo-last.log").write_text(run.output, "utf-8")
        if promptfoo_calls(run) == CALLS:
            done.append(run)
        if len(done) == runs:
            break
    if not done:
        errors = [line for line in run.output.splitlines() if "Error" in line] or ["no error"]
        return f"promptfoo eval exited {run.code}, {promptfoo_calls(run)} passed: {errors[0][:200]}"
    return min(done, key=lambda r: r.wall_s)


def plain(env: dict[str, str], client: str = "bench.plain_client") -> Run:
    """A client alone as its own process: the official one (bench.plain_client) or none
    at all (bench.raw_client); raises when a call failed."""
    command = [sys.executable, "-m", client, "--calls", str(CALLS)]
    command += ["--concurrency", str(CONCURRENCY), "--model", MODEL]
    run = spawn(command, env, PROJECT_ROOT)
    if run.code != 0:
        raise RuntimeError(f"{client} failed: {run.output[-2000:]}")
    return run


def peak_mb(run: Run) -> float:
    """Peak memory: the larger of the largest process's peak RSS and the sampled peak of
    all its processes' PSS (workers included)."""
    return round(max(run.rss_mb, run.tree_mb), 1)


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


def scale(folder: Path, env: dict[str, str], at_2000: Run) -> list[Result]:
    """alm eval's wall, CPU per call and peak RSS as the run grows (20,000 only on request)."""
    sizes = [200, 20000] if os.environ.get(SCALE_VARIABLE) == "1" else [200]
    runs = {CALLS: at_2000}
    for calls in sizes:
        runs[calls] = alm_eval(eval_repo(folder, calls // 2), env)
        if alm_calls(runs[calls]) != calls:
            raise RuntimeError(f"alm eval made {alm_calls(runs[calls])} calls, not {calls}")
    results = []
    for calls, run in sorted(runs.items()):
        ideal = calls / CONCURRENCY * LATENCY_S
        results.append(
            Result(
                f"side_by_side.scale.alm_{calls}",
                run.wall_s,
                "s",
                note=(
                    f"of the ideal {ideal / run.wall_s:.2f}, CPU "
                    f"{run.cpu_s / calls * 1000:.2f} ms/call, peak memory {peak_mb(run):.0f} MB"
                ),
                extra={"calls": calls, "cpu_s": run.cpu_s, "rss_mb": peak_mb(run)},
            )
        )
    return results


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
    return results


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
    pf = None if binary is None else promptfoo_best(config.runs, binary, folder, base_url, env)
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
    results += scale(folder, env, alm)
    load = "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    note = "\n".join([f"side by side ({load}):", *table])
    results.append(Result("side_by_side.table", len(table) - 2, "rows", note=note))
    return results
