"""The audit log: hash chain, first bad line named, torn lines, head, concurrent writers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.deploy.audit import (
    GENESIS,
    FileAuditStore,
    audit_path,
    entries,
    line_hash,
    record,
    record_many,
    seal,
    verify,
    verify_store,
)
from reconciler.errors import AlmError


def _log(tmp_path: Path, n: int = 5) -> FileAuditStore:
    store = FileAuditStore(audit_path(tmp_path, "prod"))
    for i in range(n):
        record(
            store, action="update", agent=f"a{i % 2}", environment="prod", from_=f"sha256:{i}",
            to=f"sha256:{i + 1}", actor="alice", result="ok", at=f"2025-01-01T00:00:0{i}Z",
        )  # fmt: skip
    return store


def _lines(store: FileAuditStore) -> list[bytes]:
    return store.read().split(b"\n")[:-1]


def _join(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def test_chain_as_design_says(tmp_path: Path) -> None:
    store = _log(tmp_path, 3)
    lines = _lines(store)
    first, second = json.loads(lines[0]), json.loads(lines[1])
    assert first["prev"] == GENESIS
    assert second["prev"] == line_hash(lines[0])  # sha256 of the previous line's bytes
    assert first["from"] == "sha256:0" and "from_" not in first
    assert verify(store.read()) is None
    assert verify_store(store) is None
    assert store.path == tmp_path / ".alm" / "audit" / "prod.jsonl"


def test_record_returns_what_it_wrote_and_stamps_time(tmp_path: Path) -> None:
    store = FileAuditStore(tmp_path / "a.jsonl")
    rec = record(store, action="create", agent="x", environment="dev", result="ok")
    assert rec["at"].endswith("Z")
    assert entries(store.read()) == [rec]
    with pytest.raises(ValueError, match="prev"):
        record(store, action="x", prev="forged")


def test_entries_filters_by_agent(tmp_path: Path) -> None:
    store = _log(tmp_path, 5)
    assert [e["from"] for e in entries(store.read(), agent="a1")] == ["sha256:1", "sha256:3"]
    assert len(entries(store.read())) == 5
    assert verify(b"") is None and entries(b"") == []


def _edit(lines: list[bytes], i: int) -> list[bytes]:
    out = list(lines)
    out[i] = out[i].replace(b"alice", b"mallory")
    return out


def _forge_insert(lines: list[bytes], i: int) -> list[bytes]:
    """A well-formed record that even links to the line before it."""
    prev = line_hash(lines[i - 1]) if i else GENESIS
    _, line = seal({"action": "delete", "agent": "a0", "actor": "mallory"}, prev)
    return [*lines[:i], line[:-1], *lines[i:]]


Tamper = Callable[[list[bytes], int], list[bytes]]
TAMPERS: dict[str, tuple[Tamper, Callable[[int], int]]] = {
    # name: (change, 0-based line it changes) -> the first bad line, 1-based
    "edited": (_edit, lambda i: i + 1),
    "removed": (lambda ls, i: ls[:i] + ls[i + 1 :], lambda i: i + 1),
    "inserted, linked to the line before": (_forge_insert, lambda i: i + 2),
    "inserted blank": (lambda ls, i: [*ls[:i], b"", *ls[i:]], lambda i: i + 1),
    "swapped with the next": (
        lambda ls, i: [*ls[:i], ls[i + 1], ls[i], *ls[i + 2 :]],
        lambda i: i + 1,
    ),
}


@pytest.mark.parametrize("kind", sorted(TAMPERS))
@pytest.mark.parametrize("where", [0, 2, 3])
def test_tampering_names_the_first_bad_line(tmp_path: Path, kind: str, where: int) -> None:
    store = _log(tmp_path, 5)
    change, expected = TAMPERS[kind]
    bad = verify(_join(change(_lines(store), where)))
    assert bad is not None, kind
    assert bad.line == expected(where), (kind, bad)
    assert str(bad).startswith(f"line {bad.line}: ")


def test_editing_the_last_line_is_found_at_that_line(tmp_path: Path) -> None:
    store = _log(tmp_path, 4)
    bad = verify(_join(_edit(_lines(store), 3)))
    assert bad is not None and bad.line == 4 and "edited" in bad.why


def test_removing_lines_at_the_end_is_found_by_the_head(tmp_path: Path) -> None:
    store = _log(tmp_path, 4)
    store.path.write_bytes(_join(_lines(store)[:2]))
    assert verify(store.read()) is None  # the chain alone cannot tell
    bad = verify_store(store)
    assert bad is not None and bad.line == 3 and "removed from the end" in bad.why


def test_replacing_the_last_line_is_found_by_the_head(tmp_path: Path) -> None:
    store = _log(tmp_path, 3)
    lines = _lines(store)
    _, forged = seal({"action": "noop"}, line_hash(lines[1]))
    store.path.write_bytes(_join([*lines[:2], forged[:-1]]))
    bad = verify_store(store)
    assert bad is not None and bad.line == 3


def test_torn_last_line_is_reported_then_cut_by_the_next_append(tmp_path: Path) -> None:
    store = _log(tmp_path, 3)
    whole = store.read()
    _, extra = seal({"action": "update"}, line_hash(_lines(store)[-1]))
    store.path.write_bytes(whole + extra[:20])  # a crash in the middle of a write
    bad = verify_store(store)
    assert bad is not None and bad.line == 4 and "torn" in bad.why
    assert len(entries(store.read())) == 3  # the torn line is not a record
    record(store, action="create", agent="z")
    assert verify_store(store) is None
    assert len(entries(store.read())) == 4
    assert store.torn_path.read_bytes() == extra[:20] + b"\n"  # kept for inspection


def test_a_torn_tail_after_removed_lines_is_not_cut(tmp_path: Path) -> None:
    store = _log(tmp_path, 4)
    lines = _lines(store)
    store.path.write_bytes(_join(lines[:2]) + lines[2][:10])
    with pytest.raises(AlmError, match="line 3 is torn"):
        record(store, action="create")
    assert store.read() == _join(lines[:2]) + lines[2][:10]  # untouched


def test_a_crash_between_append_and_head_is_not_tampering(tmp_path: Path) -> None:
    store = _log(tmp_path, 3)
    old_head = store.head_path.read_bytes()
    record(store, action="update")
    store.head_path.write_bytes(old_head)  # as if killed before the head was rewritten
    assert verify_store(store) is None
    record(store, action="update")  # recounts, since the head is not current
    head = store.head()
    assert head is not None and head.lines == 5
    assert verify_store(store) is None


def test_record_many_is_one_chain(tmp_path: Path) -> None:
    store = _log(tmp_path, 2)
    written = record_many(store, [{"action": "create", "agent": f"b{i}"} for i in range(50)])
    assert len(written) == 50
    assert verify_store(store) is None
    assert [e["agent"] for e in entries(store.read())][2:] == [f"b{i}" for i in range(50)]
    size = store.path.stat().st_size
    assert record_many(store, []) == [] and store.path.stat().st_size == size


def test_entries_names_a_line_that_is_not_a_record(tmp_path: Path) -> None:
    store = _log(tmp_path, 3)
    lines = _lines(store)
    with pytest.raises(AlmError, match=r"^line 2: not a JSON object"):
        entries(_join([lines[0], b"garbage", lines[2]]))


_WRITER = """
import sys
from pathlib import Path
from reconciler.deploy.audit import FileAuditStore, record
store = FileAuditStore(Path(sys.argv[1]))
for i in range(40):
    record(store, action="update", agent=sys.argv[2], detail=str(i))
"""


def test_concurrent_writers_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "prod.jsonl"
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), f"w{n}"]) for n in range(3)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    store = FileAuditStore(path)
    assert verify_store(store) is None
    got = entries(store.read())
    assert len(got) == 120
    for n in range(3):
        assert [e["detail"] for e in got if e["agent"] == f"w{n}"] == [str(i) for i in range(40)]


def test_a_symlinked_log_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    path = audit_path(tmp_path, "prod")
    path.parent.mkdir(parents=True)
    path.symlink_to(victim)
    store = FileAuditStore(path)
    with pytest.raises(AlmError, match=r"prod\.jsonl: cannot open"):
        record(store, action="create")
    with pytest.raises(AlmError, match="expected the audit log"):
        store.read()
    assert victim.read_text() == "precious\n"
