"""`alm apply` of a 1,000-agent fleet: to the directory target from scratch, again with
nothing to do, and to the reference http registry (`alm registry serve`, its own process).

The fleet (bench.fleet, ``--agents`` agents x ``--grants`` grants) is committed in a
temporary git repository; its environments.yaml keeps dev on the directory target and
points prod at the registry (without the previous-environment gate, so prod takes every
agent at once) and without the evals gate (`evals_pass: false`, explicitly: the synthetic
fleet has eval suites but no cassettes, so with the gate every agent would be held and
nothing deployed; the gate's own cost is that of `alm eval` in replay, which
bench/bench_evals.py measures, plus one read of a results file with `--evals`). Each
apply runs in its own process, as a user runs it, and is checked:
exit 0, every agent Synced in `alm status`, and the audit log verifies. Targets:

- from scratch to the directory target: under 10 s;
- an apply with nothing to do (best of ``--runs``): under 2 s. The scratch apply leaves
  the plan it results in remembered, so the next apply reuses it, as do the ones after
  an apply with nothing to do (reconciler.deploy.memo); the same with the memo deleted
  plans in full (reported too, as `...noop.planned.wall`);
- from scratch to the http registry: under 20 s.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import PROJECT_ROOT, Config, Result, below
from bench.fleet import commit_fleet, git

ALM = [sys.executable, "-m", "reconciler"]
SCRATCH_S, NOOP_S, HTTP_S = 10.0, 2.0, 20.0
ENVIRONMENTS = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: dev
    target: {{type: directory, path: .alm/deployments/dev}}
    gates: {{previous_environment: false, evals_pass: false}}
  - name: staging
    target: {{type: directory, path: .alm/deployments/staging}}
    gates: {{evals_pass: false}}
  - name: prod
    target: {{type: http, url: "{url}"}}
    gates: {{previous_environment: false, evals_pass: false}}
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}


def _alm(root: Path, *args: str) -> tuple[int, float, str, str]:
    """(exit code, wall seconds, stdout, stderr) of alm in its own process."""
    started = time.perf_counter()
    done = subprocess.run(
        [*ALM, "-C", str(root), *args], capture_output=True, text=True, env=_env(), check=False
    )
    return done.returncode, time.perf_counter() - started, done.stdout, done.stderr


def _registry(folder: Path) -> tuple[subprocess.Popen[str], str]:
    """`alm registry serve --port 0` in its own process, and the URL it printed."""
    proc = subprocess.Popen(
        [*ALM, "registry", "serve", "--dir", str(folder), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"https?://[^\s)]+", line)
    if found is None:
        proc.kill()
        raise RuntimeError(f"alm registry serve said {line!r}; expected its URL")
    return proc, found.group().rstrip("/")


def _checked(root: Path, env: str, agents: int) -> str:
    """ "" when every agent is Synced and the audit log verifies, else what is wrong."""
    code, _, out, err = _alm(root, "status", "--env", env, "--format", "json")
    if code != 0:
        return f"alm status exited {code}: {err[-200:]}"
    rows = json.loads(out)["agents"]
    synced = sum(r["sync"] == "Synced" for r in rows)
    if synced != agents:
        return f"{synced} of {agents} agents Synced"
    code, _, _, err = _alm(root, "audit", "verify", "--env", env)
    return "" if code == 0 else f"alm audit verify exited {code}: {err[-200:]}"


def _apply(root: Path, env: str, agents: int, name: str, limit: float) -> Result:
    code, wall, out, err = _alm(root, "apply", "--env", env)
    wrong = f"alm apply exited {code}: {err[-300:]}" if code else _checked(root, env, agents)
    summary = next((line for line in out.splitlines() if line.startswith("result:")), "")
    checks = "every agent Synced, audit verified; evals_pass: false (no cassettes)"
    note = wrong or f"{summary}; {checks}"
    result = below(name, wall, "s", limit, note)
    return result if not wrong else Result(name, wall, "s", result.target, False, note)


def _noop(root: Path, runs: int, agents: int) -> list[Result]:
    """The apply right after the scratch one finds the plan that apply left remembered
    (memo.after_apply); with the memo deleted, the next one plans in full (fleet loaded,
    every live bundle read) and remembers; the ones after it reuse the memo."""
    memo_file = root / ".alm" / "cache" / "deploy" / "dev.json"
    walls, remembered, notes = [], [], []
    for i in range(max(runs, 1) + 2):
        if i == 1:
            memo_file.unlink(missing_ok=True)
        code, wall, out, err = _alm(root, "apply", "--env", "dev")
        walls.append(wall)
        remembered.append("not re-read" in out)
        if code != 0 or "nothing to apply" not in out:
            notes.append(f"exit {code}, not a no-op: {(out + err)[-200:]}")
    name = f"deploy.{agents}_agents.directory.noop"
    full = below(
        f"{name}.planned.wall",
        walls[1],
        "s",
        NOOP_S,
        "memo deleted: fleet loaded, every live bundle read and planned",
    )
    hits = [walls[0], *walls[2:]]
    every = ", ".join(f"{w:.2f}" for w in hits)
    note = "; ".join(notes) or (
        f"best of {len(hits)} (all: {every} s; the first right after the scratch apply); "
        f"plan remembered in {sum(remembered) - remembered[1]} of {len(hits)} "
        "(memo hit: nothing loaded or parsed)"
    )
    best = below(f"{name}.wall", min(hits), "s", NOOP_S, note)
    if notes or remembered[1] or not all([remembered[0], *remembered[2:]]):
        best = Result(best.name, best.value, "s", best.target, False, note)
    return [full, best]


def run(config: Config) -> list[Result]:
    agents = config.agents
    with tempfile.TemporaryDirectory(prefix="alm-bench-deploy-") as tmp:
        root = Path(tmp) / "fleet"
        commit_fleet(root, agents=agents, grants=config.grants)
        registry, url = _registry(Path(tmp) / "registry")
        try:
            (root / "policies" / "environments.yaml").write_text(ENVIRONMENTS.format(url=url))
            git(root, "commit", "-q", "-am", "prod on the reference http registry")
            prefix = f"deploy.{agents}_agents"
            return [
                _apply(root, "dev", agents, f"{prefix}.directory.scratch.wall", SCRATCH_S),
                *_noop(root, config.runs, agents),
                _apply(root, "prod", agents, f"{prefix}.http.scratch.wall", HTTP_S),
            ]
        finally:
            registry.terminate()
            registry.wait(timeout=30)
