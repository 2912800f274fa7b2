"""One agent of the example fleet given a hostile runtime, evaluated through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run, run_process
from tests.gitrepo import GitRepo

AGENT = "email-drafting"
CASE = "renewal-reminder-draft"
AGENT_FILE = f"agents/{AGENT}/agent.yaml"


def set_runtime(repo: GitRepo, runtime: str, timeout_s: float | None = None) -> None:
    """Replace the agent's builtin runtime (and its timeout) and commit."""
    repo.replace(AGENT_FILE, "runtime: {type: builtin}", f"runtime: {runtime}")
    if timeout_s is not None:
        repo.replace(AGENT_FILE, "timeout_s: 90}", f"timeout_s: {timeout_s:g}}}")
    repo.commit("hostile runtime")


def command_agent(repo: GitRepo, body: str, timeout_s: float | None = None) -> None:
    """A command agent: this Python program, run in the agent's folder."""
    repo.write(f"agents/{AGENT}/hostile_agent.py", textwrap.dedent(body))
    runtime = f"{{type: command, command: [{sys.executable}, hostile_agent.py]}}"
    set_runtime(repo, runtime, timeout_s)


ONE_CASE = ("eval", "--agent", AGENT, "--case", CASE, "--no-cache")


def eval_case(
    repo: GitRepo, capsys: pytest.CaptureFixture[str], out: Path, *extra: str
) -> tuple[int, str, list[dict[str, Any]]]:
    """alm eval of the one case; (exit code, stdout + stderr, the results' cases)."""
    code, stdout, stderr = run(capsys, "-C", str(repo.path), *ONE_CASE, "--out", str(out), *extra)
    cases = json.loads(out.read_text("utf-8"))["cases"]
    return code, stdout + stderr, cases


def eval_case_process(repo: GitRepo, out: Path) -> subprocess.CompletedProcess[str]:
    """The same in a real process: a worker thread still running would keep it from exiting
    (the hang guard then fails the test)."""
    return run_process(repo.path, *ONE_CASE, "--out", str(out), timeout=60)
