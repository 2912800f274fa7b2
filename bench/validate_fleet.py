"""Issue 13, part 3: `alm validate` at fleet size, with eval suites and cassettes.

The fleet is the example fleet (tests/gitrepo.py `init_repo`) plus ``config.agents`` copies
of the example agent email-drafting: each copy has its own agents/<name>/ (agent.yaml and
prompt), evals/<name>/ (the suite) and evals/<name>/cassettes/ (the recordings), renamed
where a name must match (metadata.name, the suite's metadata.agent). It is built once, in a
git repository under bench/results/validate-fleet-<N>-v<version>/, and reused while the
example's files are unchanged.

Each run is ``python -m reconciler -C REPO validate`` as a whole process, measured from
outside (bench/process_measure.py `spawn`: wall, CPU from rusage, peak RSS):

- cold: the first run with no cache of alm's present (the repo's .alm/cache/ removed); it
  parses in two processes (reconciler/spec/parsefork.py), so the machine's load average is
  noted with it;
- warm: best of ``config.runs`` right after it (a parse cache, if alm keeps one, is warm);
- example: the example fleet alone (in a new temporary repository), cold, then best of
  ``config.runs``.

Every run must exit 0 and report the number of agents expected, so a broken fleet cannot
pass as fast. Targets: < 2 s for the fleet (issue 13), < 1 s for the example fleet.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from bench import PROJECT_ROOT, Config, Result, below
from bench.process_measure import Run, spawn
from tests.gitrepo import FLEET_FOLDERS, init_repo

FLEET_VERSION = 1  # bump when the copies change, so a cached fleet is rebuilt
EXAMPLE = "email-drafting"
EXAMPLE_AGENTS = 4
FLEET_LIMIT_S = 2.0
EXAMPLE_LIMIT_S = 1.0
_MARKER = ".bench-validate-fleet.json"
_SUMMARY = re.compile(r": valid: (\d+) agents?, .*; 0 errors")


def copy_name(i: int) -> str:
    return f"{EXAMPLE}-{i:04d}"


def add_copies(root: Path, count: int) -> None:
    """`count` copies of the example agent, its suites and its cassettes, renamed."""
    agent = root / "agents" / EXAMPLE
    evals = root / "evals" / EXAMPLE
    agent_text = (agent / "agent.yaml").read_text("utf-8")
    suites = {p.name: p.read_text("utf-8") for p in evals.glob("*.yaml")}
    for i in range(count):
        name = copy_name(i)
        shutil.copytree(agent, root / "agents" / name)
        (root / "agents" / name / "agent.yaml").write_text(
            _renamed(agent_text, "  name: ", name), "utf-8"
        )
        shutil.copytree(evals / "cassettes", root / "evals" / name / "cassettes")
        for file, text in suites.items():
            (root / "evals" / name / file).write_text(_renamed(text, "  agent: ", name), "utf-8")


def _renamed(text: str, key: str, name: str) -> str:
    """The text with the one `key` line (under metadata:) naming the copy."""
    line = f"{key}{EXAMPLE}\n"
    if text.count(line) != 1:
        raise RuntimeError(f"expected one {line.strip()!r} line in the example to rename")
    return text.replace(line, f"{key}{name}\n")


def example_digest() -> str:
    """What the copies are made of: a changed example fleet means a new fleet."""
    digest = hashlib.sha256(str(FLEET_VERSION).encode())
    for folder in FLEET_FOLDERS:
        for path in sorted((PROJECT_ROOT / folder).rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()


def cached_fleet(cache: Path, agents: int) -> tuple[Path, bool]:
    """The fleet's repository, built once per example content; (root, True) when reused."""
    root = cache / f"validate-fleet-{agents}-v{FLEET_VERSION}"
    marker = root / _MARKER
    version = example_digest()
    if marker.is_file():
        try:
            if json.loads(marker.read_text("utf-8")).get("version") == version:
                return root, True
        except (OSError, ValueError):
            pass
    if root.exists():
        shutil.rmtree(root)
    repo = init_repo(root)
    add_copies(root, agents)
    repo.write(".gitignore", f".alm/\n{_MARKER}\n")
    repo.commit(f"{agents} copies of {EXAMPLE}, with suites and cassettes")
    marker.write_text(json.dumps({"agents": agents, "version": version}), "utf-8")
    return root, False


def validate(repo: Path) -> Run:
    command = [sys.executable, "-m", "reconciler", "-C", str(repo), "validate"]
    return spawn(command, dict(os.environ), PROJECT_ROOT)


def checked(run: Run, agents: int) -> Run:
    """The run, once it is known to have validated `agents` agents without error."""
    found = _SUMMARY.search(run.output)
    if run.code != 0 or found is None or int(found.group(1)) != agents:
        raise RuntimeError(
            f"alm validate exited {run.code}, expected 0 and {agents} valid agents: "
            f"{run.output[-2000:]}"
        )
    return run


def best(runs: int, agents: int, repo: Path) -> Run:
    return min((checked(validate(repo), agents) for _ in range(runs)), key=lambda r: r.wall_s)


def _load_average() -> str:
    try:
        one_minute = os.getloadavg()[0]
    except OSError:
        return "load average unknown"
    return f"load average {one_minute:.2f} on {os.cpu_count()} cores before the cold run"


def _note(run: Run) -> str:
    return f"{run.cpu_s:.2f} s CPU, {run.rss_mb:.0f} MB peak RSS"


def run(config: Config) -> list[Result]:
    repo, reused = cached_fleet(config.cache, config.agents)
    total = config.agents + EXAMPLE_AGENTS
    shutil.rmtree(repo / ".alm" / "cache", ignore_errors=True)  # cold: none of alm's caches
    load = _load_average()  # a busy machine slows a cold run most: it forks a parser
    cold = checked(validate(repo), total)
    warm = best(config.runs, total, repo)
    fleet_note = f"{total} agents ({'reused' if reused else 'new'} fleet at {repo}); {load}"
    results = [
        below(
            "validate_fleet.cold", cold.wall_s, "s", FLEET_LIMIT_S, f"{_note(cold)}; {fleet_note}"
        ),
        below("validate_fleet.warm", warm.wall_s, "s", FLEET_LIMIT_S, _note(warm)),
        Result("validate_fleet.cold_cpu", cold.cpu_s, "s"),
        Result("validate_fleet.warm_rss", warm.rss_mb, "MB"),
    ]
    with tempfile.TemporaryDirectory() as name:
        results += _example(config, Path(name) / "example")
    return results


def _example(config: Config, root: Path) -> list[Result]:
    init_repo(root)
    cold = checked(validate(root), EXAMPLE_AGENTS)
    warm = best(config.runs, EXAMPLE_AGENTS, root)
    return [
        below("validate_fleet.example_cold", cold.wall_s, "s", EXAMPLE_LIMIT_S, _note(cold)),
        below("validate_fleet.example", warm.wall_s, "s", EXAMPLE_LIMIT_S, _note(warm)),
    ]
