"""Deployment targets: where an environment's bundles live, behind one interface.

`open_target(env, root, env_vars)` picks the implementation from `env.target.type`
(a registry, one entry per type; each module is imported only when used).

Every target implements the `Target` protocol of reconciler.deploy.model (read_all,
read, conditional put/delete, history) and `write_many` (`BatchTarget`): the engine
hands it all of one apply's changes at once and gets one outcome per agent. The git
target turns a batch into ONE commit and one push; the directory and http targets
write agent by agent (one lock and one connection for the whole batch), so one
agent's failure never stops the others. A write whose `expected` no longer matches
the target is reported as a Conflict for that agent, never overwritten.

    result = target.write_many([Write(bundle.agent, bundle, live_or_none), ...])
    result.done       # agent -> the new Live (None for a delete), in input order
    result.failed     # agent -> the exception (Conflict, or AlmError/OSError)

The per-agent `put`/`delete` keep working (each one a batch of one).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from reconciler.deploy.model import Bundle, Conflict, Live, Target, Unreadable
from reconciler.errors import AlmError
from reconciler.spec.catalog import Environment


@dataclass(frozen=True)
class Write:
    """One change of a batch: `bundle` None deletes the agent. `expected` is the entry
    the plan read, readable or not (None: the agent must not exist yet)."""

    agent: str
    bundle: Bundle | None
    expected: Live | Unreadable | None


@dataclass
class BatchResult:
    done: dict[str, Live | None] = field(default_factory=dict)
    failed: dict[str, Exception] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


class BatchTarget(Target, Protocol):
    def write_many(self, writes: Sequence[Write]) -> BatchResult: ...


Factory = Callable[[Environment, Path, Mapping[str, str]], BatchTarget]

# type -> "module:function"; imported on first use so `alm validate` never pays for them.
FACTORIES: dict[str, str] = {
    "directory": "reconciler.deploy.targets.directory:open_directory",
    "git": "reconciler.deploy.targets.git:open_git",
    "http": "reconciler.deploy.targets.http:open_http",
}


def _factory(kind: str) -> Factory:
    spec = FACTORIES.get(kind)
    if spec is None:
        raise AlmError(f"target type {kind!r} is not known; expected one of {sorted(FACTORIES)}")
    module, _, name = spec.partition(":")
    factory: Factory = getattr(importlib.import_module(module), name)
    return factory


def open_target(env: Environment, root: Path, env_vars: Mapping[str, str]) -> BatchTarget:
    """The target of `env`. Relative paths are taken from `root` (the repository);
    `env_vars` supplies secrets such as the http token (never printed)."""
    return _factory(env.target.type)(env, root, env_vars)


def write_each(target: Target, writes: Sequence[Write]) -> BatchResult:
    """A batch as agent-by-agent writes: one failure is recorded and the rest go on."""
    result = BatchResult()
    for write in writes:
        try:
            if write.bundle is None:
                if write.expected is None:
                    raise AlmError(f"{write.agent}: a delete needs the live entry it removes")
                target.delete(write.agent, write.expected)
                result.done[write.agent] = None
            else:
                result.done[write.agent] = target.put(write.bundle, write.expected)
        except (AlmError, OSError, Conflict) as exc:
            result.failed[write.agent] = exc
    return result
