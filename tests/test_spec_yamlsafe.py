"""The strict, bounded YAML reader: positions, duplicates, bombs, encodings, tags."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import pytest

from reconciler.errors import AlmError, SpecError
from reconciler.spec.yamlbuild import MAX_DEPTH, MAX_NODES_PER_DOCUMENT
from reconciler.spec.yamlsafe import MAX_FILE_BYTES, load_documents


def refused(raw: bytes, file: str = "f.yaml") -> SpecError:
    with pytest.raises(SpecError) as info:
        load_documents(file, raw)
    err = info.value
    assert isinstance(err, AlmError)
    assert len(err.findings) == 1 and err.findings[0] is err.finding
    return err


def where(err: SpecError) -> tuple[str, int, int]:
    loc = err.finding.location
    return loc.file, loc.line, loc.column


# --- positions -------------------------------------------------------------------------


def test_values_and_keys_keep_their_line_and_column() -> None:
    raw = b"a: 1\nb:\n  c: [x, {d: y}]\n  e:\n    - f\n"
    (doc,) = load_documents("f.yaml", raw)
    assert doc.data == {"a": 1, "b": {"c": ["x", {"d": "y"}], "e": ["f"]}}
    assert doc.positions.values[("a",)] == (1, 4)
    assert doc.positions.keys[("b", "c")] == (3, 3)
    assert doc.positions.values[("b", "c", 1, "d")] == (3, 14)
    assert doc.positions.values[("b", "e", 0)] == (5, 7)
    # a path with parts that are not in the data falls back to the closest known place
    assert doc.location(("b", "c", 1, "d", "nope")).line == 3
    assert doc.location(("b", "e", 0, "function-after[x]")).column == 7
    assert doc.location(("b", "c"), prefer_key=True).column == 3


def test_several_documents_in_one_file() -> None:
    docs = load_documents("f.yaml", b"a: 1\n---\nb: 2\n")
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}]
    assert docs[1].positions.values[("b",)] == (3, 4)


def test_a_byte_order_mark_is_accepted() -> None:
    (doc,) = load_documents("f.yaml", b"\xef\xbb\xbfa: 1\n")
    assert doc.data == {"a": 1}


def test_merge_keys_merge_and_explicit_keys_win() -> None:
    raw = b"base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n"
    (doc,) = load_documents("f.yaml", raw)
    assert doc.data["other"] == {"x": 1, "y": 3}


# --- syntax and duplicates -------------------------------------------------------------


def test_syntax_error_names_the_line() -> None:
    raw = b"apiVersion: alm/v1\nkind: Agent\nmetadata:\n  name: [unclosed\n  owners: x\n"
    err = refused(raw, "agents/a/agent.yaml")
    assert err.finding.code == "yaml-syntax"
    file, line, column = where(err)
    assert file == "agents/a/agent.yaml"
    assert line == 5  # the flow sequence opened on line 4 cannot hold "owners: x"
    assert column >= 1
    assert "YAML syntax error" in err.finding.message


def test_bad_indentation_names_the_line() -> None:
    err = refused(b"a: 1\nb:\n  c: 2\n d: 3\n")
    assert err.finding.code == "yaml-syntax"
    assert where(err)[1] == 4


@pytest.mark.parametrize(
    ("raw", "line", "column"),
    [
        (b"a:\n\tb: 1\n", 2, 1),  # "cannot start any token"
        (b"a:\n  b: 1\n\tc: 2\n", 3, 1),  # "violates indentation"
        (b"a:\n  b:\n  \tc: 1\n", 3, 3),  # after two spaces
        (b"tools:\n  - a.b\n\t- c.d\n", 3, 1),
        (b"- a\n-\tb\n", 2, 2),
        (b"a: |\n\tx\n", 2, 1),  # block scalar
    ],
)
def test_a_tab_in_indentation_is_named_as_a_tab(raw: bytes, line: int, column: int) -> None:
    err = refused(raw)
    assert err.finding.code == "yaml-syntax"
    assert where(err) == ("f.yaml", line, column)
    assert err.finding.message.startswith("found a tab character; YAML indents with spaces")


def test_a_tab_where_yaml_allows_one_loads() -> None:
    (doc,) = load_documents("f.yaml", b"a:\t1\nb: [1,\n\t2]\n")
    assert doc.data == {"a": 1, "b": [1, 2]}


def test_other_syntax_errors_are_not_called_tabs() -> None:
    err = refused(b"x: 1  #\tnote\na:\n  b: 1\n c: 2\n")  # a tab elsewhere in the file
    assert where(err)[1] == 4
    assert "tab" not in err.finding.message


def test_duplicate_key_is_an_error_not_last_wins() -> None:
    raw = b"kind: Agent\ntools:\n  - a.b\nlimits: {}\ntools:\n  - c.d\n"
    err = refused(raw)
    assert err.finding.code == "duplicate-key"
    assert where(err) == ("f.yaml", 5, 1)
    assert "'tools'" in err.finding.message and "first at line 2" in err.finding.message


def test_nested_duplicate_key_in_flow_mapping() -> None:
    err = refused(b"a:\n  b: {x: 1, y: 2, x: 3}\n")
    assert err.finding.code == "duplicate-key"
    assert where(err) == ("f.yaml", 2, 19)


def test_keys_equal_after_typing_are_duplicates() -> None:
    # 1 and 0x1 are the same integer key: still a duplicate, not a silent overwrite
    err = refused(b"m:\n  1: a\n  0x1: b\n")
    assert err.finding.code == "duplicate-key"
    assert where(err)[1] == 3


def test_a_mapping_as_key_is_refused() -> None:
    err = refused(b"? {a: 1}\n: x\n")
    assert "plain scalar key" in err.finding.message
    assert where(err)[1] == 1


# --- bounds ----------------------------------------------------------------------------

BILLION_LAUGHS = b"""\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _bounded(raw: bytes) -> tuple[SpecError, int]:
    """The refusal, and the peak memory it used. How long it takes is bench/'s business:
    the node limit in the message is what bounds the work, whatever the machine's load."""
    tracemalloc.start()
    try:
        err = refused(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return err, peak


def test_billion_laughs_is_refused_and_small() -> None:
    err, peak = _bounded(BILLION_LAUGHS)
    assert err.finding.code == "alias-bomb"
    assert str(MAX_NODES_PER_DOCUMENT) in err.finding.message
    assert err.finding.location.line >= 1
    assert peak < 64 * 1024 * 1024


def test_merge_key_bomb_of_empty_mappings_is_refused() -> None:
    # merging empty mappings creates no values, so each merge must count on its own:
    # 10**8 merges otherwise take minutes
    lines = [b"l0: &l0 {}"]
    for i in range(1, 9):
        sources = b",".join([b"*l%d" % (i - 1)] * 10)
        lines.append(b"l%d: &l%d {<<: [%s]}" % (i, i, sources))
    err, peak = _bounded(b"\n".join(lines) + b"\n")
    assert err.finding.code == "alias-bomb"
    assert str(MAX_NODES_PER_DOCUMENT) in err.finding.message  # each merge counted
    assert peak < 64 * 1024 * 1024


def test_a_self_referencing_alias_is_refused() -> None:
    err = refused(b"a: &a [*a]\n")
    assert err.finding.code == "too-deep"


def test_a_self_merging_mapping_is_refused() -> None:
    err = refused(b"a: &a {x: 1, <<: *a}\n")
    assert err.finding.code == "too-deep"


def test_nesting_beyond_the_bound_is_refused_with_a_position() -> None:
    raw = b"a:\n" + b"".join(b"  " * i + b"- \n" for i in range(1, MAX_DEPTH + 5))
    err = refused(raw)
    assert err.finding.code == "too-deep"
    assert err.finding.location.line == MAX_DEPTH + 1


def test_nesting_within_the_bound_loads() -> None:
    depth = MAX_DEPTH - 1
    (doc,) = load_documents("f.yaml", b"[" * depth + b"1" + b"]" * depth)
    value = doc.data
    for _ in range(depth):
        value = value[0]
    assert value == 1


def test_very_deep_flow_nesting_does_not_crash_the_interpreter() -> None:
    """100 000 `[` (200 kB, under the size limit) used to overflow the C stack of the
    composer and kill the process; run it in a child so a regression is a failure."""
    program = (
        "from reconciler.spec.yamlsafe import load_documents\n"
        "from reconciler.errors import SpecError\n"
        "try:\n"
        "    load_documents('f.yaml', b'[' * 100000 + b']' * 100000)\n"
        "except SpecError as err:\n"
        "    print(err.finding.code, err.finding.location.line, err.finding.location.column)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["too-deep", "1", str(MAX_DEPTH + 1)]


def test_file_over_the_size_limit_is_refused_before_parsing() -> None:
    raw = b"a: " + b"x" * MAX_FILE_BYTES + b"\n"
    err = refused(raw)
    assert err.finding.code == "file-too-large"
    assert str(len(raw)) in err.finding.message and str(MAX_FILE_BYTES) in err.finding.message


def test_size_limit_is_a_parameter() -> None:
    with pytest.raises(SpecError) as info:
        load_documents("f.yaml", b"a: 12345\n", max_bytes=4)
    assert info.value.finding.code == "file-too-large"


# --- encodings, empty, scalars and tags ------------------------------------------------


def test_non_utf8_byte_is_located() -> None:
    err = refused(b"a: 1\nbb: caf\xe9\n")
    assert err.finding.code == "encoding"
    assert where(err) == ("f.yaml", 2, 8)
    assert "0xe9" in err.finding.message and "UTF-8" in err.finding.message


@pytest.mark.parametrize("raw", [b"", b"   \n\n", b"# only a comment\n"])
def test_empty_file_is_an_error(raw: bytes) -> None:
    err = refused(raw)
    assert err.finding.code == "empty"
    assert "empty" in err.finding.message


@pytest.mark.parametrize(
    ("raw", "column"),
    [
        (b"when: 2024-13-45\n", 7),  # looks like a date, is not one
        (b"n: !!int abc\n", 4),
        (b"b: !!bool perhaps\n", 4),
        (b"f: !!float pi\n", 4),
        (b"big: " + b"9" * 5000 + b"\n", 6),  # beyond Python's int-from-string limit
        (b"bin: !!binary 'a'\n", 6),
    ],
)
def test_bad_typed_scalars_are_findings_not_crashes(raw: bytes, column: int) -> None:
    err = refused(raw)
    assert err.finding.code == "yaml"
    assert where(err) == ("f.yaml", 1, column)
    assert err.finding.message.startswith("bad tag:yaml.org,2002:")


@pytest.mark.parametrize(
    "tag", ["!!set", "!!map", "!!seq", "!!omap", "!custom", "!!python/name:os.system"]
)
def test_unsupported_tags_on_scalars_are_refused(tag: str) -> None:
    err = refused(f"a: {tag} value\n".encode())
    assert "unsupported YAML tag" in err.finding.message
    assert where(err) == ("f.yaml", 1, 4)


def test_typed_scalars_load() -> None:
    (doc,) = load_documents("f.yaml", b"a: 1\nb: 2.5\nc: true\nd: ~\ne: '1'\nf: !!str 2\n")
    assert doc.data == {"a": 1, "b": 2.5, "c": True, "d": None, "e": "1", "f": "2"}


@pytest.mark.parametrize(
    ("raw", "column"),
    [
        (b"a: !!python/object:os.system {x: 1}\n", 4),
        (b"a: !!set {x, y}\n", 4),
        (b"a: !!omap [x: 1]\n", 4),
        (b"a: !!python/object/apply:os.system ['true']\n", 4),
        (b"- !custom [1]\n", 3),
    ],
)
def test_unsupported_tags_on_collections_are_refused_not_ignored(raw: bytes, column: int) -> None:
    err = refused(raw)
    assert "unsupported YAML tag" in err.finding.message
    assert where(err) == ("f.yaml", 1, column)


def test_standard_collection_tags_load() -> None:
    (doc,) = load_documents("f.yaml", b"a: !!map {x: 1}\nb: !!seq [1]\n")
    assert doc.data == {"a": {"x": 1}, "b": [1]}
