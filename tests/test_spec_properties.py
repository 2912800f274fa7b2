"""Property: whatever an agent file holds, loading and checking it either works or
produces findings (or raises our own AlmError) — never any other exception — and an
agent that does not load always has a finding naming its file."""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli.output import FORMATS, render
from reconciler.errors import AlmError, Finding
from reconciler.spec.checks import validate
from reconciler.spec.loader import load_snapshot
from tests.test_spec_minifleet import AGENT, AGENT_YAML, CATALOG, CATALOG_YAML, mini_snapshot

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BASE = yaml.safe_load(AGENT_YAML)
LINES = AGENT_YAML.splitlines(keepends=True)


def check(raw: bytes, rel: str = AGENT) -> list[Finding]:
    """Load the mini fleet with this file; the invariants hold whatever it holds."""
    try:
        state = load_snapshot(mini_snapshot({rel: raw}))
        findings = validate(state)
    except AlmError as err:  # allowed, though the loader turns these into findings
        assert err.message
        return err.findings
    for finding in findings:
        assert isinstance(finding, Finding)
        assert finding.location.file
        assert finding.location.line >= 0 and finding.location.column >= 0
        assert finding.message and finding.code
    for fmt in FORMATS:
        out = render(findings, "summary", fmt)
        out.encode("utf-8", "surrogateescape")
        if fmt == "json":
            assert len(json.loads(out)["findings"]) == len(findings)
    if rel == AGENT and not state.agents:
        assert any(f.location.file == AGENT for f in findings), findings
    return findings


# --- byte-level mutations --------------------------------------------------------------

_byte_edit = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, len(AGENT_YAML)), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, len(AGENT_YAML)), st.binary(max_size=12)),
    st.tuples(st.just("delete"), st.integers(0, len(AGENT_YAML)), st.integers(1, 40)),
    st.tuples(st.just("truncate"), st.integers(0, len(AGENT_YAML)), st.just(0)),
)


def _apply_bytes(raw: bytearray, edit: tuple[str, int, Any]) -> bytearray:
    op, at, arg = edit
    at = min(at, len(raw))
    if op == "flip" and at < len(raw):
        raw[at] = arg
    elif op == "insert":
        raw[at:at] = arg
    elif op == "delete":
        del raw[at : at + arg]
    elif op == "truncate":
        del raw[at:]
    return raw


@SETTINGS
@given(st.lists(_byte_edit, min_size=1, max_size=6))
def test_byte_mutations(edits: list[tuple[str, int, Any]]) -> None:
    raw = bytearray(AGENT_YAML.encode())
    for edit in edits:
        raw = _apply_bytes(raw, edit)
    check(bytes(raw))


# --- YAML-structure mutations ----------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path (keys and indexes) of every value nested in a JSON value."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += json_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += json_paths(child, (*prefix, i))
    return found


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


def _reaches(value: Any, target: Any) -> bool:
    """Whether target is value itself or inside it (sharing it there would make a cycle)."""
    if value is target:
        return True
    children = value.values() if isinstance(value, dict) else value
    return isinstance(value, dict | list) and any(_reaches(c, target) for c in children)


@st.composite
def structural(draw: st.DrawFn) -> bytes:
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        paths = json_paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(data, path)
        action = draw(st.sampled_from(["delete", "swap", "rename", "share"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "swap":
            parent[path[-1]] = draw(_values)
        elif action == "share":  # the same object twice: the dump has an &anchor and *alias
            other = draw(st.sampled_from(paths))
            if not _reaches(_parent(data, other)[other[-1]], parent):  # never a cycle
                parent[path[-1]] = _parent(data, other)[other[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = parent.pop(path[-1])
    text = yaml.safe_dump(data, allow_unicode=draw(st.booleans()), sort_keys=False)
    return text.encode("utf-8", "surrogatepass")


@SETTINGS
@given(structural())
def test_structure_mutations(raw: bytes) -> None:
    check(raw)


@st.composite
def line_edits(draw: st.DrawFn) -> bytes:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(
            st.sampled_from(
                ["duplicate", "delete", "unicode", "anchor", "alias", "merge", "indent"]
            )
        )
        if action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "delete" and len(lines) > 1:
            del lines[i]
        elif action == "unicode":
            line = lines[i]
            cut = draw(st.integers(0, len(line)))
            lines[i] = line[:cut] + draw(st.text(min_size=1, max_size=6)) + line[cut:]
        elif action == "anchor":
            key, sep, rest = lines[i].partition(": ")
            if sep:
                lines[i] = f"{key}: &a{draw(st.integers(0, 2))} {rest}"
        elif action == "alias":
            key, sep, _ = lines[i].partition(": ")
            if sep:
                lines[i] = f"{key}: *a{draw(st.integers(0, 2))}\n"
        elif action == "merge":
            indent = len(lines[i]) - len(lines[i].lstrip(" "))
            lines.insert(i, " " * indent + f"<<: *a{draw(st.integers(0, 2))}\n")
        else:
            lines[i] = " " * draw(st.integers(1, 3)) + lines[i]
    return "".join(lines).encode("utf-8", "surrogatepass")


@SETTINGS
@given(line_edits())
def test_line_mutations_with_anchors_aliases_and_unicode(raw: bytes) -> None:
    check(raw)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_as_a_catalog(raw: bytes) -> None:
    check(raw, CATALOG)


@SETTINGS
@given(st.data())
def test_catalog_structure_mutations(data: st.DataObject) -> None:
    catalog = copy.deepcopy(yaml.safe_load(CATALOG_YAML))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(json_paths(catalog)))
        parent = _parent(catalog, path)
        if data.draw(st.booleans()):
            parent[path[-1]] = data.draw(_values)
        else:
            del parent[path[-1]]
        if not json_paths(catalog):
            break
    check(yaml.safe_dump(catalog).encode(), CATALOG)


def test_unmutated_files_load_cleanly() -> None:
    assert check(AGENT_YAML.encode()) == []
    assert check(yaml.safe_dump(BASE, sort_keys=False).encode()) == []
