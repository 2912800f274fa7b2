"""promptfoo as a contender in the side-by-side eval benchmark.

Installed from npm into bench/results/promptfoo-cache (never globally) when npm is on
PATH; otherwise reported as not run, with the reason. Its eval runs one prompt per test
against the same local server, with its cache, telemetry, sharing and update checks off.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

from bench import RESULTS_DIR
from bench.process_measure import Run, spawn

PROMPTFOO_VERSION = "0.121.20"
PROMPTFOO_CACHE = RESULTS_DIR / "promptfoo-cache"


class Load(NamedTuple):
    calls: int
    concurrency: int
    model: str


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


def promptfoo_config(folder: Path, base_url: str, load: Load) -> Path:
    tests = [{"vars": {"n": n}} for n in range(load.calls)]
    config = {
        "description": "alm side-by-side",
        "prompts": ["Draft a renewal reminder for Initech (ACC-30412), request {{n}}."],
        "providers": [
            {
                "id": f"openai:chat:{load.model}",
                "config": {"apiBaseUrl": base_url, "apiKey": "sk-b"},
            }
        ],
        "tests": tests,
        "evaluateOptions": {"maxConcurrency": load.concurrency, "cache": False},
        "sharing": False,
    }
    path = folder / "promptfooconfig.json"
    path.write_text(json.dumps(config), "utf-8")
    return path


def promptfoo(binary: Path, folder: Path, base_url: str, env: dict[str, str], load: Load) -> Run:
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
    config = promptfoo_config(folder, base_url, load)
    command = [str(binary), "eval", "-c", str(config), "--no-cache", "-j", str(load.concurrency)]
    command += ["--no-table", "--no-progress-bar", "--no-share"]
    return spawn(command, env, folder)


def promptfoo_passed(run: Run) -> int:
    found = re.search(r"([\d,]+) passed", run.output) if run.code in (0, 100) else None
    return int(found.group(1).replace(",", "")) if found else 0


def promptfoo_best(
    runs: int, binary: Path, folder: Path, base_url: str, env: dict[str, str], load: Load
) -> Run | str:
    """The fastest of ``runs`` full runs; a crashed run is tried once more, then reported
    with its first error line (the whole output goes to bench/results/promptfoo-last.log)."""
    done: list[Run] = []
    for _ in range(runs + 1):
        run = promptfoo(binary, folder, base_url, env, load)
        (RESULTS_DIR / "promptfoo-last.log").write_text(run.output, "utf-8")
        if promptfoo_passed(run) == load.calls:
            done.append(run)
        if len(done) == runs:
            break
    if not done:
        errors = [line for line in run.output.splitlines() if "Error" in line] or ["no error"]
        return (
            f"promptfoo eval exited {run.code}, {promptfoo_passed(run)} passed: {errors[0][:200]}"
        )
    return min(done, key=lambda r: r.wall_s)
