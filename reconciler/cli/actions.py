"""Keep repository text from being obeyed as a GitHub Actions workflow command.

The runner reads every line of a step's stdout and stderr (a lone `\\r` ends a line too)
and obeys `::name props::data` at the start of a line (after whitespace) and the legacy
`##[name props]data` anywhere in a line. After `::stop-commands::TOKEN` it obeys nothing
until `::TOKEN::`. That state is shared by both streams, which it reads concurrently: a
stop printed on stdout does not order the lines of stderr. So under Actions (env
GITHUB_ACTIONS=true) `main()` installs a filter on both streams:

- stdout: untrusted lines run inside stop-commands, with a fresh unpredictable token per
  stop (`secrets`, never derived from repository content), and are defused as well;
- stderr: every line is defused (no stop: its order against stdout is unknown);
- alm's own commands (annotations) are marked with `command()`; the filter prints them
  in a window where commands are resumed, then stops again before more untrusted text.

Machine-readable output (JSON) calls `machine_output()` first: it gets no marker lines,
which would break a parser, and is defused only, keeping its value (a JSON line never
starts with `::`; a `#` inside a string is written `\\u0023`).
"""

from __future__ import annotations

import io
import os
import re
import secrets
import sys
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

_LINE_END = re.compile(r"(\r\n|\r|\n)")
# characters a culture-aware comparison in the runner (.NET) may skip: whitespace,
# controls, format characters (zero-width), combining marks, unassigned and private use
_SKIPPABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"})


def under_actions(env: Mapping[str, str] = os.environ) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


def _visible(line: str) -> str:
    return "".join(c for c in line if not (c.isspace() or unicodedata.category(c) in _SKIPPABLE))


def defuse(line: str, json: bool = False) -> str:
    """One line (no line break in it) that the runner cannot read as a command; text that
    looks like none is returned unchanged. Errs on the side of escaping. In JSON, where
    `#` only occurs inside strings, it becomes the escape `\\u0023`: the same value."""
    visible = _visible(line)
    if "##[" in visible:
        line = line.replace("#", "\\u0023" if json else "\\#")
    if visible.startswith("::"):
        line = "\\" + line
    return line


def defuse_text(text: str) -> str:
    parts = _LINE_END.split(text)
    parts[::2] = [defuse(line) for line in parts[::2]]
    return "".join(parts)


@dataclass
class Guard:
    """The secrets of one run: the mark of alm's own commands, and the stop token."""

    nonce: str = field(default_factory=lambda: secrets.token_hex(16))
    token: str | None = None  # the stop token in force on stdout; None while commands run
    machine: bool = False

    @property
    def mark(self) -> str:
        return f"\x00alm-command-{self.nonce}\x00"


_active: Guard | None = None


def command(line: str) -> str:
    """Mark one line as alm's own workflow command (an annotation) to be obeyed."""
    return line if _active is None else _active.mark + line


def machine_output() -> None:
    """What this command prints is JSON (or text with no `#`) for a parser: no stop and
    resume lines around it, and JSON-preserving escapes."""
    if _active is not None:
        _active.machine = True


class _Filter(io.TextIOBase):
    """A text stream that forwards whole lines, defused, to the real one."""

    def __init__(self, stream: TextIO, guard: Guard, stops: bool) -> None:
        super().__init__()
        self.stream = stream
        self.guard = guard
        self.stops = stops  # print stop/resume (stdout only)
        self._pending = ""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.stream.isatty()

    def write(self, text: str) -> int:
        parts = _LINE_END.split(self._pending + text)
        self._pending = parts.pop()
        for line, end in zip(parts[::2], parts[1::2], strict=True):
            self._line(line, end)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()  # a partial line waits for its end: it may start a command

    def finish(self) -> None:
        if self._pending:
            self._line(self._pending, "\n")
            self._pending = ""
        self._resume()
        self.stream.flush()

    def _line(self, line: str, end: str) -> None:
        mark = self.guard.mark
        if line.startswith(mark) and self.stops:
            self._resume()
            self.stream.write(line[len(mark) :] + end)
            return
        line = line.replace(mark, "")
        if self.stops and line.strip() and not self.guard.machine:
            self._stop()
        self.stream.write(defuse(line, json=self.guard.machine and self.stops) + end)

    def _stop(self) -> None:
        if self.guard.token is None:
            self.guard.token = secrets.token_hex(16)
            self.stream.write(f"::stop-commands::{self.guard.token}\n")

    def _resume(self) -> None:
        if self.stops and self.guard.token is not None:
            self.stream.write(f"::{self.guard.token}::\n")
            self.guard.token = None


@dataclass
class Installed:
    guard: Guard
    stdout: TextIO
    stderr: TextIO
    filters: tuple[_Filter, _Filter]


def install() -> Installed:
    """Put the filters on sys.stdout and sys.stderr (undo with `uninstall`)."""
    global _active
    guard = Guard()
    out = _Filter(sys.stdout, guard, stops=True)
    err = _Filter(sys.stderr, guard, stops=False)
    installed = Installed(guard, sys.stdout, sys.stderr, (out, err))
    sys.stdout, sys.stderr = out, err
    _active = guard
    return installed


def uninstall(installed: Installed) -> None:
    """Print what is pending, resume commands, and restore the streams."""
    global _active
    try:
        for stream in installed.filters:
            stream.finish()
    except OSError:  # the reader went away (a closed pipe): nothing is left to protect
        pass
    finally:
        sys.stdout, sys.stderr = installed.stdout, installed.stderr
        _active = None
