"""Bundles made directly from content, and the reference registry run for real
(`alm registry serve --port 0` in a subprocess) for the deploy target tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.deploy.model import Bundle, revision_of

PROJECT = Path(__file__).resolve().parent.parent


def make_bundle(agent: str, environment: str, **content: Any) -> Bundle:
    body = {"model": {"name": "gpt-4.1-mini", "params": {"temperature": 0}}, **content}
    return Bundle(agent=agent, environment=environment, revision=revision_of(body), content=body)


@contextmanager
def running_registry(folder: Path, token: str | None = None) -> Iterator[str]:
    """The reference registry on a free port; yields its URL, stops it with SIGTERM."""
    args = [sys.executable, "-m", "reconciler", "registry", "serve", "--dir", str(folder)]
    args += ["--port", "0"] + (["--token-env", "ALM_TEST_REGISTRY_TOKEN"] if token else [])
    env = {**os.environ, "ALM_TEST_REGISTRY_TOKEN": token or ""}
    folder.mkdir(parents=True, exist_ok=True)
    # stderr to a file, not a pipe nobody reads: a full pipe would block the server
    with (folder.parent / f"{folder.name}.stderr").open("w+") as errors:
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=errors, text=True, env=env, cwd=PROJECT
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            found = re.search(r"on (http://\S+) ", line)
            errors.seek(0)
            assert found, f"the registry did not start: {line!r} {errors.read()}"
            yield found.group(1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
