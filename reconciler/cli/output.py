"""Render findings as text, JSON, or GitHub workflow annotations."""

from __future__ import annotations

import json
from collections.abc import Callable

from reconciler.errors import Finding

FORMATS = ("text", "json", "github")


def _text(findings: list[Finding], summary: str) -> str:
    lines = [f"{f.location}: {f.severity}: {f.message} [{f.code}]" for f in findings]
    return "\n".join([*lines, summary])


def _json(findings: list[Finding], summary: str) -> str:
    errors = sum(f.severity == "error" for f in findings)
    payload = {
        "ok": errors == 0,
        "errors": errors,
        "warnings": len(findings) - errors,
        "summary": summary,
        "findings": [f.to_dict() for f in findings],
    }
    return json.dumps(payload, indent=2)


def _escape(text: str, properties: bool = False) -> str:
    # GitHub's workflow-command escaping; properties also escape ':' and ','.
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if properties else text


def _github(findings: list[Finding], summary: str) -> str:
    lines = []
    for f in findings:
        level = "error" if f.severity == "error" else "warning"
        loc = f.location
        props = f"file={_escape(loc.file, True)}"
        props += f",line={loc.line},col={loc.column}"
        props += f",title={_escape('alm ' + f.code, True)}"
        lines.append(f"::{level} {props}::{_escape(f.message)}")
    return "\n".join([*lines, summary])


RENDERERS: dict[str, Callable[[list[Finding], str], str]] = {
    "text": _text,
    "json": _json,
    "github": _github,
}


def render(findings: list[Finding], summary: str, fmt: str) -> str:
    return RENDERERS[fmt](findings, summary)
