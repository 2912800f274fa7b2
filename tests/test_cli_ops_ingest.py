"""`alm ops ingest` as a user runs it: on the example fleet, with SDK-made trace files."""

from __future__ import annotations

import gzip
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from bench.ops import copy_line
from reconciler.ops.model import Window
from reconciler.ops.store import open_store
from reconciler.ops.tracegen import Recorder, TaskSpec, ToolStep
from tests.cli import PYTHON_M_ALM, run, run_process
from tests.gitrepo import GitRepo

T0 = 1_767_225_600 * 1_000_000_000
S = 1_000_000_000
DAY = Window(T0 - S, T0 + 86_400 * S)


def traces(path: Path, agents: tuple[str, ...] = ("support-triage",), count: int = 2) -> Path:
    recorder = Recorder("prod")
    for i in range(count):
        tools = [ToolStep("crm.lookup", arguments={"i": i})]
        recorder.record(TaskSpec(agents[i % len(agents)], "sha256:1", T0 + i * S, tools=tools))
    return recorder.write(path, spans_per_line=2)


def test_ingest_stores_tasks_and_says_what_it_did(
    fleet_repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = traces(tmp_path / "a.jsonl.gz", count=3)
    db = tmp_path / "t.db"
    code, out, err = run(
        capsys, "-C", str(fleet_repo.path), "ops", "ingest", str(first), "--db", str(db)
    )
    assert (code, err) == (0, "")
    assert out == (
        f"1 file, 6 lines, 12 spans read into {db}: 12 spans added, 0 already stored; "
        "3 traces assembled, 3 tasks; 0 bad spans\n"
    )
    code, out, _ = run(
        capsys, "-C", str(fleet_repo.path), "ops", "ingest", str(first), "--db", str(db)
    )
    assert code == 0
    assert "0 spans added, 12 already stored; 0 traces assembled" in out
    with open_store(db) as store:
        assert len(list(store.tasks(DAY, "prod"))) == 3


def test_bad_spans_are_shown_with_an_example_and_are_not_an_error(
    fleet_repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = traces(tmp_path / "good.jsonl", agents=("support-triage", "no-such-agent"), count=2)
    lines = good.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        lines[0] + "\n{oops\n" + lines[1].replace('"traceId":"', '"traceId":"zz', 1) + "\n"
    )
    code, out, err = run(
        capsys,
        "-C",
        str(fleet_repo.path),
        "ops",
        "ingest",
        str(good),
        str(bad),
        "--db",
        str(tmp_path / "t.db"),
    )
    assert (code, err) == (0, "")
    summary, header, *rows = out.splitlines()
    assert summary.endswith("1 task; 3 bad spans")
    assert header.split() == ["bad", "span", "count", "example"]
    assert rows[0].split()[:3] == ["bad-id", "1", f"{bad}:3:"]
    assert rows[1].split()[:3] == ["bad-json", "1", f"{bad}:2:"]
    assert rows[2].split()[:2] == ["unknown-agent", "1"] and "no-such-agent" in rows[2]


def test_a_missing_file_is_named_exit_1_and_nothing_is_stored(
    fleet_repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = traces(tmp_path / "good.jsonl")
    db = tmp_path / "t.db"
    missing = tmp_path / "missing.jsonl"
    code, out, err = run(
        capsys,
        "-C",
        str(fleet_repo.path),
        "ops",
        "ingest",
        str(good),
        str(missing),
        "--db",
        str(db),
    )
    assert (code, out) == (1, "")
    assert err == f"alm: {missing}: no such trace file\n"
    assert not db.exists()
    code, _, err = run(
        capsys, "-C", str(fleet_repo.path), "ops", "ingest", str(tmp_path), "--db", str(db)
    )
    assert (code, err) == (1, f"alm: {tmp_path}: a directory; expected a trace file\n")


def test_a_corrupt_gzip_file_is_named_not_a_traceback(fleet_repo: GitRepo, tmp_path: Path) -> None:
    broken = tmp_path / "cut.jsonl.gz"
    data = gzip.compress(traces(tmp_path / "plain.jsonl", count=40).read_bytes())
    broken.write_bytes(data[: len(data) // 2])
    done = run_process(
        fleet_repo.path, "ops", "ingest", str(broken), "--db", str(tmp_path / "t.db")
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"alm: {broken}: cannot read after line ")
    assert "Traceback" not in done.stderr


def test_stdin_is_read_with_a_dash(fleet_repo: GitRepo, tmp_path: Path) -> None:
    data = traces(tmp_path / "a.jsonl").read_bytes()
    done = subprocess.run(
        [
            *PYTHON_M_ALM,
            "-C",
            str(fleet_repo.path),
            "ops",
            "ingest",
            "-",
            "--db",
            str(tmp_path / "t.db"),
        ],
        input=data,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"8 spans added" in done.stdout


def _big_file(path: Path, copies: int) -> tuple[Path, int, int]:
    """(file, spans, tasks): SDK-made lines replicated with rewritten trace ids."""
    base = traces(path.with_suffix(".base"), agents=("support-triage", "sales-research"), count=250)
    lines = base.read_bytes().splitlines()
    with open(path, "wb") as out:
        for k in range(copies):
            out.writelines(copy_line(line, k) + b"\n" for line in lines)
    return path, 250 * 4 * copies, 250 * copies


def _stored(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(con.execute("SELECT count(*) FROM spans").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_kill_9_mid_ingest_loses_nothing_committed(fleet_repo: GitRepo, tmp_path: Path) -> None:
    # 30,000 spans: six ingest batches (BATCH_SPANS), so the kill after the first commit
    # still lands with several batches to go; the second ingest has less to redo
    big, spans, tasks = _big_file(tmp_path / "big.jsonl", copies=30)
    db = tmp_path / "t.db"
    command = [
        *PYTHON_M_ALM,
        "-C",
        str(fleet_repo.path),
        "ops",
        "ingest",
        str(big),
        "--db",
        str(db),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120  # a hang guard, not a timing assertion
        while _stored(db) == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        running = proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert running, "the ingest ended before it could be killed; make the file larger"
    kept = _stored(db)
    assert 0 < kept < spans
    done = run_process(fleet_repo.path, "ops", "ingest", str(big), "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert f"{spans - kept:,} spans added, {kept:,} already stored" in done.stdout
    with open_store(db) as store:
        assert store.counts() == (spans, tasks)
        assert sum(1 for _ in store.tasks(Window(0, 2**62))) == tasks
