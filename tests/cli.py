"""Run `alm` in-process, as a user would from a shell, and capture what it prints."""

from __future__ import annotations

import pytest

from reconciler.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
