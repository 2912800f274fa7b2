"""tests/cli.py's run_process: alm in its own process, under a hang guard."""

from __future__ import annotations

import sys

import pytest

from tests.cli import run_process
from tests.gitrepo import GitRepo

HANGS = (sys.executable, "-c", "import time; time.sleep(600)")


def test_it_runs_alm_on_the_repository_and_captures_text_or_bytes(mini: GitRepo) -> None:
    done = run_process(mini.path, "validate", "--format", "json")
    assert done.returncode == 0 and '"ok": true' in done.stdout
    raw = run_process(None, "--version", text=False)
    assert raw.returncode == 0 and isinstance(raw.stdout, bytes) and raw.stdout


def test_a_process_that_does_not_exit_fails_the_test_naming_the_command() -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        run_process(None, "eval", "--agent", "x", timeout=0.5, program=HANGS)
    assert str(failed.value) == "alm eval --agent x did not exit within 0.5 s (hang guard)"
