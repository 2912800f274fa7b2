"""The audit log's hash chain, on bytes alone (DESIGN.md): sealing a record, and finding the
first line of a log that does not hold.

A line is the record's canonical JSON (sorted keys, no spaces) and a newline. Each
record carries `prev`, the sha256 (hex) of the previous line's bytes without its newline
(the first record: 64 zeros), and `hash`, the sha256 of the record's own canonical JSON
without `hash`. So `verify` names the first bad line itself: an edited line fails its own
hash; a removed, inserted or reordered line breaks the `prev` of the line where the
order changes. A log's head (Head: how many lines, and the hash of the last one) finds
lines removed from the end too. Where logs are kept is reconciler.deploy.audit's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from reconciler.deploy.model import canonical_json

GENESIS = "0" * 64
_SEALS = ("prev", "hash")


class BadLine(NamedTuple):
    """The first line of a log that does not hold (1-based), and why."""

    line: int
    why: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.why}"


@dataclass(frozen=True)
class Head:
    """How many lines the log had after the last append, and the hash of the last one."""

    lines: int
    last: str
    size: int  # bytes: tells the next append whether this head is current

    def render(self) -> bytes:
        return f"{self.lines} {self.last} {self.size}\n".encode()

    @classmethod
    def parse(cls, raw: bytes) -> Head | None:
        parts = raw.decode("ascii", "replace").split()
        if len(parts) != 3 or not (parts[0] + parts[2]).isdigit() or len(parts[1]) != 64:
            return None
        return cls(int(parts[0]), parts[1], int(parts[2]))


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def seal(fields: Mapping[str, Any], prev: str) -> tuple[dict[str, Any], bytes]:
    """The record with `prev` and `hash`, and its line (with the newline)."""
    clash = [k for k in _SEALS if k in fields]
    if clash:
        raise ValueError(f"audit records set {', '.join(clash)} themselves")
    record = {**fields, "prev": prev}
    record["hash"] = line_hash(canonical_json(record))
    return record, canonical_json(record) + b"\n"


def _check(line: bytes, prev: str) -> str | None:
    try:
        rec = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "not a JSON object (edited, or not written by alm)"
    if not isinstance(rec, dict):
        return "not a JSON object (edited, or not written by alm)"
    claimed = rec.pop("hash", None)
    if claimed != line_hash(canonical_json(rec)):
        return "edited: its content does not match its hash"
    if rec.get("prev") != prev:
        if prev == GENESIS:
            return "the chain does not start here (prev is not 64 zeros): lines removed before it"
        return (
            "its prev is not the hash of the line before it: a line was removed, inserted "
            "or reordered here"
        )
    return None


def verify(data: bytes, head: Head | None = None) -> BadLine | None:
    """The first bad line of a log (and, given its head, lines missing at the end)."""
    *complete, tail = data.split(b"\n")
    prev = GENESIS
    for number, line in enumerate(complete, 1):
        why = _check(line, prev)
        if why:
            return BadLine(number, why)
        prev = line_hash(line)
    if tail:
        return BadLine(len(complete) + 1, "torn: no newline at its end (a write cut by a crash)")
    return _against_head(complete, head)


def _against_head(lines: list[bytes], head: Head | None) -> BadLine | None:
    if head is None or head.lines == 0:
        return None
    if head.lines > len(lines):
        return BadLine(
            len(lines) + 1,
            f"missing: the log ends at line {len(lines)} but its head records {head.lines} "
            "lines (lines removed from the end)",
        )
    if line_hash(lines[head.lines - 1]) != head.last:
        return BadLine(head.lines, "does not match the hash the log's head records for it")
    return None
