"""What every target shares: agent names that are safe as file names and URL segments,
bundles read back with a size bound and a clear error, and history records."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from reconciler.deploy.model import Bundle, HistoryEntry, Live, Scan, Unreadable
from reconciler.errors import AlmError
from reconciler.spec.base import NAME_PATTERN

MAX_BUNDLE_BYTES = 4 << 20  # a bundle is a few KiB; anything near this is not one
_NAME = re.compile(NAME_PATTERN)


def valid_name(name: str) -> bool:
    """An agent or environment name as the spec allows it: never a path or a URL part."""
    return bool(_NAME.fullmatch(name))


def checked_name(name: str, what: str = "agent") -> str:
    if not valid_name(name):
        raise AlmError(f"{what} name {name!r} expected lowercase letters, digits and -")
    return name


def bundle_bytes(bundle: Bundle) -> bytes:
    return bundle.to_json().encode() + b"\n"


def parse_bundle(data: bytes, where: str) -> Bundle:
    """A bundle from untrusted bytes, or an AlmError naming `where` and what was expected."""
    found = _parsed(data)
    if isinstance(found, str):
        raise AlmError(f"{where}: {found}")
    return found


def _parsed(data: bytes) -> Bundle | str:
    """The bundle, or what is wrong with the bytes."""
    if len(data) > MAX_BUNDLE_BYTES:
        return f"larger than {MAX_BUNDLE_BYTES >> 20} MiB; expected a bundle"
    try:
        return Bundle.model_validate(json.loads(data))
    except (ValueError, UnicodeDecodeError) as exc:  # ValidationError is a ValueError
        return f"not an alm/v1 AgentBundle ({_first_problem(exc)})"


def entry_of(
    agent: str, environment: str, data: bytes, version: str, where: str
) -> Live | Unreadable:
    """The one reading of what a target stores under `agent`, for every target: its bundle,
    or Unreadable saying why (never an exception: one bad entry must not hide the rest)."""
    found = _parsed(data)
    problem = found if isinstance(found, str) else _mismatch(found, agent, environment)
    if problem or isinstance(found, str):
        return Unreadable(agent, version, where, problem)
    return Live(bundle=found, version=version)


def _mismatch(bundle: Bundle, agent: str, environment: str) -> str:
    if bundle.agent != agent:
        return f"holds agent {bundle.agent!r}; expected {agent!r}"
    if bundle.environment != environment:
        return f"holds a bundle for environment {bundle.environment!r}; expected {environment!r}"
    return ""


def strict(entry: Live | Unreadable | None) -> Live | None:
    """`entry` for the callers that cannot act on an unreadable one: an AlmError naming it."""
    if isinstance(entry, Unreadable):
        raise AlmError(entry.words())
    return entry


def strict_all(scan: Scan) -> dict[str, Live]:
    if scan.unreadable:
        raise AlmError(scan.unreadable[min(scan.unreadable)].words())
    return scan.lives


def scan_of(entries: Iterable[Live | Unreadable | None]) -> Scan:
    found = Scan()
    for entry in entries:
        if isinstance(entry, Live):
            found.lives[entry.bundle.agent] = entry
        elif isinstance(entry, Unreadable):
            found.unreadable[entry.agent] = entry
    return found


def _first_problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        at = ".".join(str(part) for part in err["loc"]) or "the document"
        return f"{at}: {err['msg']}"
    return str(exc).splitlines()[0]


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def history_record(bundle: Bundle, *, deleted: bool = False) -> dict[str, Any]:
    """One line of a target's history: when and by whom from the bundle's deployment
    record when it has one, else now; the bundle itself so a rollback can restore it."""
    deployment = bundle.deployment
    return {
        "revision": bundle.revision,
        "at": deployment.at if deployment and not deleted else now(),
        "by": deployment.by if deployment else None,
        "deleted": deleted,
        "bundle": bundle.model_dump(mode="json", by_alias=True),
    }


def history_entry(record: Mapping[str, Any]) -> HistoryEntry | None:
    """A history record read back; None when it is not one (a torn last line)."""
    revision = record.get("revision")
    if not isinstance(revision, str):
        return None
    raw = record.get("bundle")
    try:
        bundle = Bundle.model_validate(raw) if isinstance(raw, dict) else None
    except ValidationError:
        bundle = None
    at, by = record.get("at"), record.get("by")
    return HistoryEntry(
        revision=revision,
        at=at if isinstance(at, str) else None,
        by=by if isinstance(by, str) else None,
        bundle=bundle,
        deleted=record.get("deleted") is True,
    )


def history_from_lines(data: bytes) -> list[HistoryEntry]:
    """JSON lines, oldest first; a line that does not parse (a crash mid-append) is skipped."""
    entries: list[HistoryEntry] = []
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        entry = history_entry(record) if isinstance(record, dict) else None
        if entry is not None:
            entries.append(entry)
    return entries
