"""The parse-in-a-child cases (tests/parsefork_cases.py), run in a fresh interpreter.

Forking is refused while another thread runs, and a pytest-xdist worker always has some,
so run there the cases would all be skipped and prove nothing. Here they run in a process
of their own, and this test fails unless every one of them ran and passed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.spec import parsefork

TESTS = Path(__file__).parent
CASES = TESTS / "parsefork_cases.py"


def test_every_parsefork_case_passes_in_a_fresh_interpreter() -> None:
    if not hasattr(os, "fork") or parsefork.cores() < 2:
        pytest.skip("this machine cannot fork a parsing child (no os.fork, or one core)")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "no:xdist",
         "-p", "no:cacheprovider", "-q", "-rs", str(CASES)],
        cwd=TESTS.parent, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    cases = len(re.findall(r"^def test_", CASES.read_text("utf-8"), re.MULTILINE))
    assert f"{cases} passed" in report and "skipped" not in report, report
