"""Run `alm` as a user would from a shell, and capture what it prints: in-process
(`run`, fast) or in its own process (`run_process`, for exits, signals and hangs)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, overload

import pytest

from reconciler.cli import main

PYTHON_M_ALM = (sys.executable, "-m", "reconciler")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@overload
def run_process(
    repo: Path | None,
    *args: str,
    env: Mapping[str, str] | None = ...,
    timeout: float = ...,
    text: Literal[True] = ...,
    program: Sequence[str] = ...,
) -> subprocess.CompletedProcess[str]: ...


@overload
def run_process(
    repo: Path | None,
    *args: str,
    env: Mapping[str, str] | None = ...,
    timeout: float = ...,
    text: Literal[False],
    program: Sequence[str] = ...,
) -> subprocess.CompletedProcess[bytes]: ...


def run_process(
    repo: Path | None,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    text: bool = True,
    program: Sequence[str] = PYTHON_M_ALM,
) -> subprocess.CompletedProcess[str] | subprocess.CompletedProcess[bytes]:
    """`alm [-C repo] args` in its own process (`program` is how it is started).

    `timeout` is a hang guard, never a timing assertion: a run that does not exit fails
    the test naming the command instead of hanging the suite. `text=False` keeps the
    output byte-exact (CR and all)."""
    command = [*program, *(["-C", str(repo)] if repo is not None else []), *args]
    try:
        return subprocess.run(
            command, capture_output=True, env=env, timeout=timeout, text=text, check=False
        )
    except subprocess.TimeoutExpired:
        shown = " ".join(["alm", *command[len(program) :]])
        pytest.fail(f"{shown} did not exit within {timeout:g} s (hang guard)")
