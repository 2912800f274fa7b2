"""Writing a promoted case into evals/<agent>/production.yaml: appended as text (a
person's comments and layout in the file stay as they are), checked by loading the result
as the loader would, written atomically, never outside evals/<agent>/.

A case id already in any suite of the agent is not written again, so promoting the same
trace twice (or after a reviewer moved the case to another suite) changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from reconciler.errors import AlmError
from reconciler.fsutil import read_limited, write_atomic
from reconciler.ops.promote import SUITE, suite_header
from reconciler.spec.base import NAME_PATTERN
from reconciler.spec.evalsuite import EvalSuite
from reconciler.spec.validation import parse
from reconciler.spec.yamlsafe import MAX_FILE_BYTES, decode, load_documents

FILE = f"{SUITE}.yaml"
_NAME = re.compile(NAME_PATTERN)
_KINDS: dict[str, type[BaseModel]] = {"EvalSuite": EvalSuite}

Status = Literal["written", "present"]


@dataclass(frozen=True)
class Written:
    status: Status
    path: str  # relative to the repository: evals/<agent>/production.yaml


def suite_file(root: Path, agent: str) -> Path:
    """evals/<agent>/production.yaml, refusing any way out of the repository: an agent
    name that is not a plain name, a symlinked evals/ or agent folder (the loader does not
    follow them either), a suite file that is a symlink or not a regular file."""
    if not _NAME.fullmatch(agent):
        raise AlmError(f"agent {agent!r}: expected a name of lowercase letters, digits and -")
    parts = ["evals", agent, FILE]
    for depth in range(1, len(parts) + 1):
        here = root.joinpath(*parts[:depth])
        shown = "/".join(parts[:depth])
        if here.is_symlink():
            raise AlmError(f"{shown} is a symlink; expected a folder or file of the repository")
        if here.exists() and (here.is_file() if depth < len(parts) else not here.is_file()):
            raise AlmError(f"{shown}: expected a {'regular file' if depth == 3 else 'folder'}")
    return root.joinpath(*parts)


def append_case(
    root: Path, agent: str, case_id: str, case_text: str, known_ids: Collection[str]
) -> Written:
    """Append the case (case_yaml's text) to the agent's production suite, creating it."""
    path = suite_file(root, agent)
    relative = f"evals/{agent}/{FILE}"
    if case_id in known_ids:
        return Written("present", relative)
    before = _read(path, relative) if path.exists() else None
    if before is not None and case_id in _case_ids(relative, before):
        return Written("present", relative)
    base = suite_header(agent) if before is None else _with_newline(before)
    after = base + _reindent(case_text, _item_indent(relative, before))
    _check(relative, after, [] if before is None else _case_ids(relative, before), case_id)
    write_atomic(path, after)
    return Written("written", relative)


def proposed_text(root: Path, agent: str, case_text: str) -> str:
    """What would be appended (for --dry-run), with the indentation the file uses."""
    path = suite_file(root, agent)
    relative = f"evals/{agent}/{FILE}"
    before = _read(path, relative) if path.exists() else None
    return _reindent(case_text, _item_indent(relative, before))


def _read(path: Path, relative: str) -> str:
    raw = read_limited(path, MAX_FILE_BYTES, "an eval suite of at most 512 KiB")
    return decode(relative, raw)


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") or not text else text + "\n"


def _suite(relative: str, text: str) -> EvalSuite:
    """The file as the loader reads it: one EvalSuite, else the first problem, located."""
    documents = load_documents(relative, text.encode("utf-8"))
    if len(documents) != 1:
        raise AlmError(f"{relative}: holds {len(documents)} documents; expected one EvalSuite")
    model, findings = parse(documents[0], _KINDS)
    if model is None or not isinstance(model, EvalSuite):
        first = findings[0] if findings else None
        where = f"{first.location}: {first.message}" if first else relative
        raise AlmError(f"{where}; fix the suite before promoting into it", findings)
    return model


def _case_ids(relative: str, text: str) -> list[str]:
    return [case.id for case in _suite(relative, text).cases]


def _item_indent(relative: str, text: str | None) -> int:
    """Spaces before the `-` of the suite's case items (2 in a new file)."""
    if text is None:
        return 2
    documents = load_documents(relative, text.encode("utf-8"))
    line, column = documents[0].positions.values.get(("cases", 0), (0, 0))
    if line == 0:
        return 2
    source = text.splitlines()[line - 1][: column - 1]
    dash = source.rfind("-")
    return dash if dash >= 0 else 2


def _reindent(case_text: str, indent: int) -> str:
    """case_yaml writes items at 2 spaces; move them to the file's own indentation."""
    if indent == 2:
        return case_text
    pad = " " * indent
    return "".join(
        pad + line[2:] if line.startswith("  ") else line
        for line in case_text.splitlines(keepends=True)
    )


def _check(relative: str, text: str, before: list[str], case_id: str) -> None:
    """The appended file must load as the same suite with exactly one more case, this one,
    marked for review; anything else means `cases:` was not the file's last block."""
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise AlmError(
            f"{relative}: the case would take the file over {MAX_FILE_BYTES >> 10} KiB, which "
            "alm refuses to load; expected a smaller suite (move reviewed cases to another file)"
        )
    try:
        suite = _suite(relative, text)
    except AlmError as err:
        raise AlmError(_cannot_append(relative, err.message)) from None
    ids = [case.id for case in suite.cases]
    if ids != [*before, case_id] or not suite.cases[-1].needs_review:
        raise AlmError(_cannot_append(relative, f"its cases would be {ids}"))


def _cannot_append(relative: str, why: str) -> str:
    return (
        f"{relative}: cannot append the case ({why}); expected `cases:` as the file's last "
        "key, written as a block list (- id: ...). Use --dry-run and add the case by hand"
    )
