"""What every target shares: agent names that are safe as file names and URL segments,
bundles read back with a size bound and a clear error, and history records."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from reconciler.deploy.model import Bundle, HistoryEntry
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
    if len(data) > MAX_BUNDLE_BYTES:
        raise AlmError(f"{where}: larger than {MAX_BUNDLE_BYTES >> 20} MiB; expected a bundle")
    try:
        return Bundle.model_validate(json.loads(data))
    except (ValueError, UnicodeDecodeError) as exc:  # ValidationError is a ValueError
        raise AlmError(f"{where}: not an alm/v1 AgentBundle ({_first_problem(exc)})") from None


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
