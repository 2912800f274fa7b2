"""The event reader (yamlevents) against the full builder (yamlbuild): the same values and
the same errors on tricky YAML, the fast path taken for plain files, refused otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import SpecError
from reconciler.spec import yamlsafe
from reconciler.spec.yamlbuild import MAX_DEPTH, MAX_NODES_PER_DOCUMENT
from reconciler.spec.yamlevents import plain_values
from reconciler.spec.yamlsafe import load_documents

ROOT = Path(__file__).resolve().parent.parent

# plain: read from events (YAML 1.1 scalars of every implicit kind, block and flow styles)
PLAIN = {
    "mapping": "a: 1\nb:\n  c: [x, {d: y}]\n  e: 2.5\n",
    "documents": "a: 1\n---\nb: 2\n--- \n---\n- x\n...\n",
    "bools": "a: [yes, No, ON, off, y, n, Y, true, FALSE, True]\n",
    "ints": "a: [0o17, 017, 0x1F, 0b101, 1_000, -42, +7, 190:20:30, 0, -0]\n",
    "floats": "a: [1.5, 1_000.5, -.5, 6.8523015e+5, 1e3, 190:20:30.15, 1.0]\n",
    "special floats": "a: [.inf, -.Inf, +.INF, .nan, .NaN]\n",
    "nulls": "a: [~, null, Null, NULL, '']\nb:\nc: ''\n",
    "quoted": "a: ['1', \"true\", '~', \"2024-01-01\", '<<', '=']\n",
    "dates": "a: 2024-06-11\nb: 2024-06-11T10:30:00Z\nc: 2001-12-14 21:59:43.10 -5\n",
    "big int": f"a: {2**80}\nb: -{2**70}\nc: {2**63}\n",
    "scalar keys": "1: one\n2.5: x\nnull: n\nfalse: t\n2024-01-01: d\n'<<': q\n",
    "tabs libyaml accepts": "a:\t1\nb: [1,\n\t2]\n",
    "block scalars": "a: |\n  one\n  two\nb: >-\n  folded\n  text\nc: |+\n  kept\n\n",
    "unicode": 'name: caf\u00e9 \u2603\nq: "\\u00e9\\t\\x41"\n',
    "scalar root": "just text\n",
    "comments": "# c\na: 1 # x\n# end\n",
    "deep but fine": "a: " + "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2) + "\n",
}
# refused by the event reader: the full builder decides (values or an error)
FULL = {
    "anchor and alias": "a: &x [1, 2]\nb: *x\n",
    "merge": "base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n",
    "merge list": "a: &a {x: 1}\nb: &b {y: 2}\nc: {<<: [*a, *b], z: 3}\n",
    "merge of a scalar": "a: {<<: 1}\n",
    "explicit str": "a: !!str 1\nb: !!int '7'\n",
    "explicit float bad": "a: !!float abc\n",
    "binary": "a: !!binary aGVsbG8=\n",
    "custom tag": "a: !thing 1\n",
    "python tag": "a: !!python/object:os.system {}\n",
    "set": "a: !!set {x, y}\n",
    "non-specific tag": "a: ! 12\n",
    "value tag": "a: =\n",
    "duplicate key": "a: 1\nb: 2\na: 3\n",
    "duplicate bool and int": "1: a\ntrue: b\n",
    "complex key": "? [a, b]\n: c\n",
    "mapping key": "? {a: 1}\n: c\n",
    "bad date": "a: 2024-13-45\n",
    "syntax error": "a: [1, 2\nb: 3\n",
    "tab indent": "a:\n\tb: 1\n",
    "empty": "",
    "comments only": "# nothing\n",
    "too deep": "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n",
    "very deep": "[" * 5000 + "]" * 5000 + "\n",
    "too many values": "a: [" + "1, " * (MAX_NODES_PER_DOCUMENT + 5) + "1]\n",
    "billion laughs": "a: &a [1, 1]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n",
    "self alias": "a: &a [*a]\n",
    "unclosed quote": "a: 'x\n",
    "bad escape": 'a: "\\q"\n',
    "second document bad": "a: 1\n---\nb: [\n",
}


def outcome(read: Any, text: str) -> tuple[str, Any]:
    """What reading gives, comparable: repr tells 1, 1.0 and True apart, and NaN from NaN."""
    try:
        documents = read("f.yaml", text)
    except SpecError as err:
        return "error", [(f.code, f.message, f.location) for f in err.findings]
    return "values", repr([d.data for d in documents])


def full(file: str, text: str) -> list[yamlsafe.Document]:
    return yamlsafe._built_documents(file, yamlsafe.decode(file, text.encode()))


def fast(file: str, text: str) -> list[yamlsafe.Document]:
    return load_documents(file, text.encode())


@pytest.mark.parametrize("text", [*PLAIN.values(), *FULL.values()], ids=[*PLAIN, *FULL])
def test_the_same_values_and_errors_as_the_full_builder(text: str) -> None:
    assert outcome(fast, text) == outcome(full, text)


@pytest.mark.parametrize("text", PLAIN.values(), ids=PLAIN)
def test_plain_files_are_read_from_events(text: str) -> None:
    plain = plain_values(text, MAX_DEPTH, MAX_NODES_PER_DOCUMENT)
    assert plain is not None
    assert repr(plain[0]) == repr([d.data for d in full("f.yaml", text)])


@pytest.mark.parametrize("text", FULL.values(), ids=FULL)
def test_anything_else_is_left_to_the_full_builder(text: str) -> None:
    assert plain_values(text, MAX_DEPTH, MAX_NODES_PER_DOCUMENT) is None


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        (PLAIN["mapping"], True),
        (PLAIN["nulls"], True),
        (PLAIN["bools"], True),
        (PLAIN["ints"], True),
        (PLAIN["dates"], False),
        (PLAIN["special floats"], False),
        (PLAIN["big int"], False),
        (PLAIN["scalar keys"], False),
    ],
)
def test_whether_json_gives_the_values_back(text: str, exact: bool) -> None:
    plain = plain_values(text, MAX_DEPTH, MAX_NODES_PER_DOCUMENT)
    assert plain is not None and plain[1] is exact


def test_positions_are_the_full_builders_found_when_asked() -> None:
    text = PLAIN["mapping"] + "f:\n  - g\n"
    (read,) = fast("f.yaml", text)
    (built,) = full("f.yaml", text)
    assert read.positions._unpack is not None  # nothing parsed for them yet
    assert read.positions == built.positions
    assert read.location(("b", "c", 1, "d")) == built.location(("b", "c", 1, "d"))
    assert read.positions.keys[("b", "c")] == (3, 3)


def test_the_example_fleet_reads_the_same() -> None:
    files = sorted(
        p for top in ("agents", "policies", "evals") for p in (ROOT / top).rglob("*.yaml")
    )
    assert len(files) > 5
    for path in files:
        text = path.read_text("utf-8")
        assert plain_values(text, MAX_DEPTH, MAX_NODES_PER_DOCUMENT) is not None, path
        assert outcome(fast, text) == outcome(full, text), path


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["yes", "0o17", "1_000", ".inf", "~", "<<", "2024-01-01", "1:20", "="]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=20,
)


@settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    value=VALUES,
    flow=st.sampled_from([None, True, False]),
    style=st.sampled_from([None, "'", '"', "|", ">"]),
)
def test_any_dumped_value_reads_the_same(value: Any, flow: bool | None, style: str | None) -> None:
    text = yaml.safe_dump(value, default_flow_style=flow, default_style=style, allow_unicode=True)
    assert outcome(fast, text) == outcome(full, text)
