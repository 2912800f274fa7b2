"""Run a command on a real read-only tree: a bind mount remounted read-only in a private
mount namespace (nothing outside the command sees it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def read_only_mount(path: Path) -> list[str]:
    """A prefix that runs a command with ``path`` bind-mounted read-only (a private mount
    namespace: nothing outside the command sees it); pytest.skip, saying why, where the
    machine does not allow it."""
    script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"'
    prefix = ["unshare", "-m", "sh", "-c", script, str(path)]
    probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no read-only bind mount here: {probe.stderr.decode().strip()}")
    return prefix
