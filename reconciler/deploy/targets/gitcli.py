"""The git CLI, run for the git target: one git directory, no work tree, no hooks, no
prompts, and no transport that runs commands (ext::)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler.errors import AlmError

# Variables that would point git somewhere else than the directory we name.
_GIT_LOCATION_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
)
FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "alm",
    "GIT_AUTHOR_EMAIL": "alm@localhost",
    "GIT_COMMITTER_NAME": "alm",
    "GIT_COMMITTER_EMAIL": "alm@localhost",
}
TIMEOUT_S = 300


def git_env(env_vars: Mapping[str, str]) -> dict[str, str]:
    env = {**os.environ, **env_vars}
    for name in _GIT_LOCATION_VARS:
        env.pop(name, None)
    env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    return env


class Git:
    def __init__(self, git_dir: Path, env: dict[str, str]) -> None:
        self.git_dir = git_dir
        self.env = env

    def run(
        self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        command = ["git", "--git-dir", str(self.git_dir), "-c", "core.hooksPath=/dev/null"]
        command += ["-c", "protocol.ext.allow=never", *args]
        try:
            return subprocess.run(
                command,
                input=stdin,
                capture_output=True,
                env={**self.env, **(env or {})},
                timeout=TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AlmError(f"git {args[0]}: could not run ({exc})") from None

    def out(
        self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> bytes:
        done = self.run(*args, stdin=stdin, env=env)
        if done.returncode != 0:
            raise AlmError(f"git {args[0]} failed in {self.git_dir}: {message_of(done.stderr)}")
        return done.stdout

    def text(
        self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> str:
        return self.out(*args, stdin=stdin, env=env).decode().strip()

    def oid(self, rev: str) -> str | None:
        done = self.run("rev-parse", "--verify", "-q", f"{rev}^{{commit}}")
        return done.stdout.decode().strip() if done.returncode == 0 else None

    def cat(self, names: Sequence[str]) -> dict[str, bytes | None]:
        """The contents of objects by name (an oid or `rev:path`), in one process;
        None for a name that is missing."""
        if not names:
            return {}
        raw = self.out("cat-file", "--batch", stdin="".join(f"{n}\n" for n in names).encode())
        found: dict[str, bytes | None] = {}
        pos = 0
        for name in names:
            end = raw.index(b"\n", pos)
            header = raw[pos:end].split()
            if header[-1] == b"missing":
                found[name], pos = None, end + 1
                continue
            size = int(header[2])
            found[name] = raw[end + 1 : end + 1 + size]
            pos = end + 1 + size + 1
        return found

    def has_identity(self) -> bool:
        if "GIT_COMMITTER_EMAIL" in self.env:
            return True
        return self.run("config", "user.email").returncode == 0


def message_of(stderr: bytes) -> str:
    """git's first `fatal:`/`error:` line (the cause: the advice after it, "Please make
    sure you have the correct access rights / and the repository exists.", says none),
    else its last line; with the remote's first word on it (a hook's or server's refusal)."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()]
    lines = [line for line in lines if line and line.lower() != "remote:"]
    causes = [line for line in lines if line.lower().startswith(("fatal:", "error:"))]
    said = causes[0] if causes else lines[-1] if lines else "no message"
    remote = next((line for line in lines if line.startswith("remote:")), said)
    return said if remote == said else f"{said} ({remote})"
