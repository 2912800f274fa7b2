"""Render findings as text, JSON, or GitHub workflow annotations."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from reconciler.cli import actions
from reconciler.errors import Finding

FORMATS = ("text", "json", "github")
# controls (but newline and tab), DEL, C1 controls, and the bidirectional overrides that
# reorder what a terminal shows ("Trojan Source"); NEL and the Unicode line separators
_UNPRINTABLE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]"
)


def printable(text: str) -> str:
    """Repository text as a terminal shows it literally: escape sequences, carriage
    returns and backspaces cannot rewrite what was printed before."""
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def finding_line(f: Finding) -> str:
    return printable(f"{f.location}: {f.severity}: {f.message} [{f.code}]")


def _text(findings: list[Finding], summary: str) -> str:
    return "\n".join([*(finding_line(f) for f in findings), printable(summary)])


def _json(findings: list[Finding], summary: str) -> str:
    actions.machine_output()
    errors = sum(f.severity == "error" for f in findings)
    payload = {
        "ok": errors == 0,
        "errors": errors,
        "warnings": len(findings) - errors,
        "summary": summary,
        "findings": [f.to_dict() for f in findings],
    }
    return json.dumps(payload, indent=2)


def escape(text: str, properties: bool = False) -> str:
    """GitHub's workflow-command escaping; properties also escape ':' and ','. Nothing
    left in the result can end the line or, in a property, the property list."""
    text = printable(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if properties else text


def annotation(f: Finding) -> str:
    """The `::error file=…::message` line of a finding, marked as alm's own command."""
    level = "error" if f.severity == "error" else "warning"
    loc = f.location
    props = f"file={escape(loc.file, True)}"
    props += f",line={loc.line},col={loc.column}"
    props += f",title={escape('alm ' + f.code, True)}"
    return actions.command(f"::{level} {props}::{escape(f.message)}")


def _github(findings: list[Finding], summary: str) -> str:
    return "\n".join([*(annotation(f) for f in findings), printable(summary)])


RENDERERS: dict[str, Callable[[list[Finding], str], str]] = {
    "text": _text,
    "json": _json,
    "github": _github,
}


def render(findings: list[Finding], summary: str, fmt: str) -> str:
    return RENDERERS[fmt](findings, summary)
