"""Ctrl-C during `alm eval` stops cleanly and keeps the finished results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli import PYTHON_M_ALM
from tests.gitrepo import GitRepo
from tests.openai_server import OpenAIServer


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_keeps_finished_trials_and_reports_the_rest_as_not_run(
    fleet_repo: GitRepo, tmp_path: Path, workers: str
) -> None:
    out = tmp_path / "results.json"
    with OpenAIServer([{"content": "Done."}], latency_s=0.2) as live:
        env = {**os.environ, "ALM_OPENAI_BASE_URL": live.base_url, "OPENAI_API_KEY": "sk-x"}
        process = subprocess.Popen(
            [*PYTHON_M_ALM, "-C", str(fleet_repo.path), "eval",
             "--mode", "live", "--no-cache", "--concurrency", "2", "--workers", workers,
             "--out", str(out)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120  # a guard: it waits for requests, not for time
        while len(live.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr
    assert process.returncode == 1, stderr
    cases = json.loads(out.read_text("utf-8"))["cases"]
    statuses = [c["status"] for c in cases]
    assert len(cases) == 34  # every planned trial is accounted for
    assert any(s != "not_run" for s in statuses)  # what finished was kept
    assert "not_run" in statuses  # the rest is reported, never passed
    assert "eval results" in stdout
    assert f"{len(cases)} trials:" in stderr and " 0 run," not in stderr
