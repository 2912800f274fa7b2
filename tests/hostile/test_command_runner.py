"""Class 3 for command agents: one that never answers, or drips a line that never ends,
is stopped at limits.timeout_s with its whole process group, and the run exits."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.gitrepo import GitRepo
from tests.hostile.agent_repo import AGENT, command_agent, eval_case, eval_case_process
from tests.test_evals_runners import alive

DRIP = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
open("child.pid", "w").write(str(child.pid))
sys.stdin.readline()
sys.stdout.write('{"type": "final", "output": "')
for _ in range(3000):  # a line that never ends, one byte every 0.1 s
    sys.stdout.write("x")
    sys.stdout.flush()
    time.sleep(0.1)
"""
SILENT = """
import sys, time
sys.stdin.readline()
time.sleep(300)
"""


def _assert_killed(pid_file: Path) -> None:
    pid = int(pid_file.read_text())
    for _ in range(250):
        if not alive(pid):
            return
        time.sleep(0.02)
    pytest.fail("the agent's child process outlived the trial")


@pytest.mark.parametrize("body", [DRIP, SILENT], ids=["drips", "silent"])
def test_a_command_agent_that_never_answers_is_stopped_at_the_timeout(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path, body: str
) -> None:
    command_agent(fleet_repo, body, timeout_s=1)
    code, output, cases = eval_case(fleet_repo, capsys, tmp_path / "r.json")
    assert code == 1 and "Traceback" not in output
    assert cases[0]["status"] == "not_run"
    assert cases[0]["reason"] == "timed out after 1 s (limits.timeout_s)"
    if body is DRIP:
        _assert_killed(fleet_repo.path / "agents" / AGENT / "child.pid")


def test_the_run_exits_with_a_dripping_command_agent(fleet_repo: GitRepo, tmp_path: Path) -> None:
    command_agent(fleet_repo, DRIP, timeout_s=1)
    out = tmp_path / "r.json"
    done = eval_case_process(fleet_repo, out)
    assert done.returncode == 1, done.stderr
    (case,) = json.loads(out.read_text("utf-8"))["cases"]
    assert case["status"] == "not_run" and case["reason"].startswith("timed out after 1 s")
    _assert_killed(fleet_repo.path / "agents" / AGENT / "child.pid")
