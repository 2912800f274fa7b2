"""The GitHub Actions runner's reading of a step's output, for tests.

It follows the runner's own rules (actions/runner: ActionCommandManager, ActionCommand):
`::name props::data` after leading whitespace, `##[name props]data` anywhere in a line,
command names case-insensitive and only registered ones, a lone CR ends a line, and
after `::stop-commands::T` nothing is obeyed until `::T::` (or `##[T]`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# what the runner registers (stop-commands, and every command extension it ships)
KNOWN = {
    "stop-commands", "error", "warning", "notice", "debug", "add-mask", "set-output",
    "set-env", "save-state", "add-path", "add-matcher", "remove-matcher", "group",
    "endgroup", "echo", "internal-set-repo-path",
}  # fmt: skip
_LINES = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Command:
    name: str
    props: dict[str, str]
    data: str


def _v2(line: str) -> Command | None:
    line = line.lstrip()
    end = line.find("::", 2)
    if not line.startswith("::") or end < 0:
        return None
    name, _, props = line[2:end].partition(" ")
    pairs = (p.split("=", 1) for p in props.split(",") if "=" in p)
    return Command(name.lower(), {k: v for k, v in pairs}, line[end + 2 :])


def _v1(line: str) -> Command | None:
    start = line.find("##[")
    close = line.find("]", start)
    if start < 0 or close < 0:
        return None
    name, _, props = line[start + 3 : close].partition(" ")
    pairs = (p.split("=", 1) for p in props.split(";") if "=" in p)
    return Command(name.lower(), {k: v for k, v in pairs}, line[close + 1 :])


@dataclass
class Runner:
    """The runner's command processing, for one stream."""

    registered: set[str] = field(default_factory=lambda: set(KNOWN))
    stop_token: str | None = None
    obeyed: list[Command] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)

    def read(self, text: str) -> Runner:
        for line in _LINES.split(text):
            command = _v2(line) or _v1(line)
            if command is None or command.name not in self.registered:
                continue
            if self.stop_token is not None:
                if command.name == self.stop_token:
                    self.registered.discard(self.stop_token)
                    self.stop_token = None
                continue
            if command.name == "stop-commands":
                self.stop_token = command.data.lower()
                self.registered.add(self.stop_token)
                self.tokens.append(command.data)
            else:
                self.obeyed.append(command)
        return self
