"""What a trial's result depends on besides the spec, hashed for the result cache.

The run hash (bundle.run_hash) covers the spec, prompt, tools and prices. A result also
depends on files the spec does not hold, which differ per runtime (RUN_INPUTS): a builtin
agent's cassettes when replaying or recording, a command agent's own code; an http agent
is remote and can change at any time, so its results are never reused.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from reconciler.evals.providers import live_endpoint
from reconciler.evals.providers.cassette import MAX_BYTES
from reconciler.evals.types import ProviderError
from reconciler.spec.agent import Agent


def folder_digest(folder: Path, names: list[str] | None = None) -> str:
    """A hash of the files in a folder (names and bytes; all of them, or ``names``). Only
    regular files are read: a symlink or an oversized file counts by its name and kind,
    never by its target."""
    digest = hashlib.sha256()
    try:
        entries = sorted(os.listdir(folder)) if names is None else names
    except OSError:
        return "none"
    for name in entries:
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
        path = folder / name
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_BYTES:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        else:
            digest.update(f"{info.st_mode}:{info.st_size}".encode())
    return digest.hexdigest()


def tree_digest(root: Path, paths: list[Path]) -> str:
    """A hash of the regular files under each path that lies inside root (a folder is read
    recursively, symlinks are never followed); paths outside root count by name only.
    Names are relative to root, so the same files hash alike wherever the tree is."""
    digest = hashlib.sha256()
    inside = root.resolve()
    for path in paths:
        resolved = path.resolve()
        if not resolved.is_relative_to(inside):
            digest.update(b"outside:" + str(path).encode("utf-8", "surrogateescape") + b"\0")
            continue
        digest.update(resolved.relative_to(inside).as_posix().encode("utf-8", "surrogateescape"))
        if resolved.is_dir():
            for folder, dirs, files in os.walk(resolved):
                dirs.sort()
                digest.update(folder_digest(Path(folder), sorted(files)).encode())
        elif resolved.is_file():
            digest.update(folder_digest(resolved.parent, [resolved.name]).encode())
    return digest.hexdigest()


def _builtin_inputs(root: Path, agent: Agent, mode: str) -> str | None:
    # replayed or recorded answers stand only for the cassettes they read or wrote; live
    # ones for the endpoint that gave them (hashed: the cache never holds a host name)
    if mode != "live":
        return folder_digest(root / "evals" / agent.name / "cassettes")
    try:
        endpoint = live_endpoint(agent.model.provider)
    except ProviderError:
        return None  # no such provider: the run reports it, and nothing is cached
    return "live-" + hashlib.sha256(endpoint.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def code_paths(agent: Agent) -> list[str]:
    """The repository paths a command agent's code is in: its own folder, and the folder of
    each path its command names inside the repository (a script's sibling modules come
    with it), e.g. examples/command-agent for ../../examples/command-agent/agent.py. What
    the result cache hashes, and what a run at a git ref exports besides agents/."""
    home = f"agents/{agent.name}"
    paths = {home}
    for arg in agent.runtime.command or ():
        named = posixpath.normpath(posixpath.join(home, arg))
        outside = named in (".", "..") or named.startswith(("../", "/"))
        if outside or arg.startswith("-") or named == home or named.startswith(home + "/"):
            continue
        paths.add(posixpath.dirname(named) or named)
    return sorted(paths)


def _command_inputs(root: Path, agent: Agent, _mode: str) -> str | None:
    return tree_digest(root, [root / path for path in code_paths(agent)])


def _http_inputs(_root: Path, _agent: Agent, _mode: str) -> str | None:
    return None  # a remote agent can change at any time: never answered from the cache


# What, besides the spec, a trial's result depends on, per runtime; None: never cache it.
RUN_INPUTS: dict[str, Callable[[Path, Agent, str], str | None]] = {
    "builtin": _builtin_inputs,
    "command": _command_inputs,
    "http": _http_inputs,
}


def run_inputs(root: Path, agents: Iterable[Agent], mode: str) -> dict[str, str | None]:
    """Per agent, the digest of the files its results depend on besides its spec; None when
    its results must never come from the cache."""
    by_name = {agent.name: agent for agent in agents}
    return {
        name: RUN_INPUTS[agent.runtime.type](root, agent, mode)
        for name, agent in sorted(by_name.items())
    }
