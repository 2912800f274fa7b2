"""The one domain error type, and the finding that every check returns.

Exit codes are decided in exactly one place (reconciler.cli); here an error only
says which kind of failure it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

Severity = Literal["error", "warning"]


class ExitCode(IntEnum):
    OK = 0
    INVALID = 1  # input invalid or a gate failed
    USAGE = 2
    DRIFT = 3
    UNEXPECTED = 4


@dataclass(frozen=True, order=True)
class Location:
    """A place in a repository file; line and column are 1-based. A finding about a
    whole file (too large, a symlink, missing) points at its start, 1:1."""

    file: str
    line: int = 1
    column: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "line", max(self.line, 1))
        object.__setattr__(self, "column", max(self.column, 1))

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Finding:
    """One problem in the desired state, with where it is and what was expected."""

    code: str
    message: str
    location: Location
    severity: Severity = "error"
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def sort_key(self) -> tuple[str, int, int, str]:
        loc = self.location
        return (loc.file, loc.line, loc.column, self.code)

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
        }


class AlmError(Exception):
    """Every failure we expect and can explain. The CLI maps it to an exit code."""

    exit_code: ExitCode = ExitCode.INVALID

    def __init__(self, message: str, findings: list[Finding] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.findings = findings or []


class SpecError(AlmError):
    """A file of the desired state cannot be read as what it must be."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(f"{finding.location}: {finding.message}", [finding])
        self.finding = finding


class UsageError(AlmError):
    exit_code = ExitCode.USAGE


class GitError(AlmError):
    """A git ref or object could not be read."""


class UnknownRefError(GitError):
    """A ref the user named that names no commit: a bad argument, so a usage error. A ref
    that exists but holds a broken desired state is not this: that is invalid input."""

    exit_code = ExitCode.USAGE
