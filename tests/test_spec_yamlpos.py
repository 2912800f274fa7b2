"""Positions from parser events (yamlpos) against the full builder's (yamlbuild): the same
tables on tricky YAML, found once per file, the builder left to decide anything not plain."""

from __future__ import annotations

import gc
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import SpecError
from reconciler.spec import yamlpos, yamlsafe
from reconciler.spec.yamlbuild import MAX_DEPTH, MAX_NODES_PER_DOCUMENT
from reconciler.spec.yamlpos import plain_positions
from tests.test_spec_yamlevents import FULL, PLAIN, VALUES

# plain files whose positions are easy to get wrong: found from events
PLAIN_POSITIONS = {
    **PLAIN,
    "explicit keys": "? a\n: 1\n? b\n? c\n: [x]\n",
    "empty values": "a:\nb: []\nc: {}\nd:\n- \n-\n- e\n",
    "flow in flow": "a: {b: [1, {c: [d, e]}], f: {}, g: [[], [{}]]}\n",
    "nested sequences": "- - - a\n    - b\n  - c\n- {d: [e, [f, g]]}\n",
    "key after block": "a: |\n  text\n\n\nb: >\n  folded\n  more\nc: 1\n",
    "crlf": "a: 1\r\nb:\r\n  - x\r\n  - y\r\n",
    "lone cr": "a: 1\rb: 2\r",
    "unicode breaks": 'a: "x\u2028y"\nb: [c\u0085, d]\ne: x\u2028  y\nf: 1\n',
    "wide characters": "\u00e9\u00e9: \U0001f600 x\n\u4e2d\u6587: [\u00e9, \U0001f600]\nk: v\n",
    "tabs after keys": "a:\t1\nb:\t[x,\t y]\nc: {d:\te}\n",
    "comments everywhere": "# top\na: # after key\n  # between\n  - 1 # item\n  # end\nb: 2\n",
    "quoted keys": "'1': a\n\"true\": b\n'': c\n'<<': d\n",
    "typed keys": "1: a\n2.5: b\nnull: c\n~x: d\noff: e\n2024-01-01: f\n0x10: g\n",
    "multiline plain": "a: one\n  two\n  three\nb: 'single\n  quoted'\nc: \"dq\n  x\"\n",
    "documents with markers": "%YAML 1.1\n---\na: 1\n...\n---\n- b\n--- c\n--- |\n  d\n",
    "indented sequence": "a:\n- 1\n- b: 2\n  c: 3\n-   - 4\n",
    "long line": "a: " + "x" * 3000 + "\nb: [" + ", ".join(["y"] * 500) + "]\n",
    "many documents": "".join(f"---\nn{i}: {i}\n" for i in range(50)),
}
# not plain: positions come from the builder as before (or its error)
NOT_PLAIN = {
    **FULL,
    "alias positions": "a: &x {b: [1, 2]}\nc: *x\nd: [*x, *x]\n",
    "merge before key": "base: &b {x: 1, y: {z: 2}}\nd:\n  <<: *b\n  y: 3\n",
    "merge after key": "base: &b {x: 1, y: 2}\nd:\n  y: 3\n  <<: *b\n",
    "merge of nested": "a: &a {x: {p: 1}}\nb: &b {x: {q: 2}}\nc: {<<: [*a, *b]}\n",
    "anchor on scalar": "a: &s text\nb: *s\n",
    "tagged collection": "a: !!map {b: 1}\nb: !!seq [1]\n",
    "duplicate nested": "a:\n  b: 1\n  b: 2\n",
    "duplicate across types": "a: {1: x, 1.0: y}\n",
    "nan keys": ".nan: 1\n.nan: 2\n",
    "zero keys": "0.0: a\n-0.0: b\n",
    "sequence key": "[a, b]: c\n",
    "bad date value": "a: [1, 2024-02-30]\n",
    "unicode break in a key": "a: x\u2028y\nb: c\u0085d\n",
}


def builder(text: str) -> tuple[str, Any]:
    """What the full builder gives: each document's (values, keys), or its findings."""
    try:
        tables = [(d.positions.values, d.positions.keys) for d in full(text)]
    except SpecError as err:
        return "error", [(f.code, f.message, f.location) for f in err.findings]
    return "positions", tables


def full(text: str) -> list[yamlsafe.Document]:
    return yamlsafe._built_documents("f.yaml", text)


def found(text: str) -> tuple[str, Any]:
    """What yamlsafe's lazy positions give now: events when plain, else the builder."""
    try:
        return "positions", yamlsafe.file_positions("f.yaml", text)
    except SpecError as err:
        return "error", [(f.code, f.message, f.location) for f in err.findings]


def test_the_corpora_are_what_they_say() -> None:
    # a corpus of only refusals would compare nothing: most plain cases are built fine
    built = [builder(t)[0] for t in PLAIN_POSITIONS.values()]
    assert built.count("positions") == len(built)
    assert "positions" in [builder(t)[0] for t in NOT_PLAIN.values()]


@pytest.mark.parametrize("text", PLAIN_POSITIONS.values(), ids=PLAIN_POSITIONS)
def test_plain_files_get_the_builders_positions_from_events(text: str) -> None:
    plain = plain_positions(text, MAX_DEPTH, MAX_NODES_PER_DOCUMENT)
    assert plain is not None
    assert ("positions", plain) == builder(text)


@pytest.mark.parametrize("text", NOT_PLAIN.values(), ids=NOT_PLAIN)
def test_anything_else_is_the_builders_positions_or_error(text: str) -> None:
    assert plain_positions(text, MAX_DEPTH, MAX_NODES_PER_DOCUMENT) is None
    assert found(text) == builder(text)


def test_positions_are_where_the_text_puts_them() -> None:
    text = "# c\nk: v\n\u00e9: [a, {b: \U0001f600}]\n---\n- x\n-  y\n"
    (first, keys), (second, _) = plain_positions(text, MAX_DEPTH, MAX_NODES_PER_DOCUMENT) or []
    assert first == {
        (): (2, 1),
        ("k",): (2, 4),
        ("\u00e9",): (3, 4),
        ("\u00e9", 0): (3, 5),
        ("\u00e9", 1): (3, 8),
        ("\u00e9", 1, "b"): (3, 12),  # columns count characters, not bytes
    }
    assert keys == {("k",): (2, 1), ("\u00e9",): (3, 1), ("\u00e9", 1, "b"): (3, 9)}
    assert second == {(): (5, 1), (0,): (5, 3), (1,): (6, 4)}


def test_the_bounds_still_apply() -> None:
    deep = "a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n"
    many = "a: [" + "1, " * 50 + "1]\n"
    assert plain_positions(deep, MAX_DEPTH, MAX_NODES_PER_DOCUMENT) is None
    assert plain_positions(many, MAX_DEPTH, 40) is None  # counted per document
    assert plain_positions("---\n" + many + "---\n" + many, MAX_DEPTH, 60) is not None
    very_deep = "[" * 100_000 + "]" * 100_000  # refused when the walk passes the bound
    assert plain_positions(very_deep, MAX_DEPTH, MAX_NODES_PER_DOCUMENT) is None
    with pytest.raises(SpecError) as info:
        yamlsafe.file_positions("f.yaml", very_deep)
    assert info.value.finding.code == "too-deep"


def test_a_files_positions_are_found_once_for_all_its_findings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    real = yamlpos.plain_positions

    def counted(text: str, max_depth: int, max_nodes: int) -> list[yamlpos.Tables] | None:
        calls.append(text)
        return real(text, max_depth, max_nodes)

    monkeypatch.setattr(yamlsafe, "plain_positions", counted)
    raw = b"a: 1\nb: [x, y]\n---\nc: {d: 2}\n"
    first, second = yamlsafe.load_documents("f.yaml", raw)
    assert calls == []  # nothing found before a finding asks
    assert first.location(("b", 1)).column == 8
    assert first.location(("a",)).line == 1
    assert second.location(("c", "d")).line == 4
    assert second.location(("c",), prefer_key=True).column == 1
    assert len(calls) == 1


@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    value=VALUES,
    flow=st.sampled_from([None, True, False]),
    style=st.sampled_from([None, "'", '"', "|", ">"]),
    indent=st.sampled_from([2, 4]),
    width=st.sampled_from([20, 80]),
)
def test_any_dumped_value_has_the_builders_positions(
    value: Any, flow: bool | None, style: str | None, indent: int, width: int
) -> None:
    text = yaml.safe_dump(
        value,
        default_flow_style=flow,
        default_style=style,
        allow_unicode=True,
        indent=indent,
        width=width,
        explicit_start=True,
    )
    assert found(text) == builder(text)


def test_the_collector_is_paused_while_positions_are_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # after loading, a fleet's heap is large: young collections set off by the tables'
    # tuples would each scan it (reconciler.gcpause); the setting is restored after
    enabled: list[bool] = []
    real = yamlpos.plain_positions

    def watched(text: str, max_depth: int, max_nodes: int) -> list[yamlpos.Tables] | None:
        enabled.append(gc.isenabled())
        return real(text, max_depth, max_nodes)

    monkeypatch.setattr(yamlsafe, "plain_positions", watched)
    assert gc.isenabled()
    assert yamlsafe.file_positions("f.yaml", "a: [1]\n") == [
        ({(): (1, 1), ("a",): (1, 4), ("a", 0): (1, 5)}, {("a",): (1, 1)})
    ]
    assert enabled == [False]
    assert gc.isenabled()
