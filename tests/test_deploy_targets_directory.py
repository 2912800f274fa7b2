"""The directory target: a writer killed with SIGKILL mid-write leaves the old bundle or
the new one, never half of one; temp files are never read as bundles; paths stay put."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.deploy.targets import Write
from reconciler.deploy.targets.directory import DirectoryTarget, resolve
from reconciler.errors import AlmError
from tests.registry_support import PROJECT, make_bundle

WRITER = """
import sys
from pathlib import Path
from reconciler.deploy.targets.directory import DirectoryTarget
from tests.registry_support import make_bundle
target = DirectoryTarget(Path(sys.argv[1]), "dev")
live = target.read("big")
print("ready", flush=True)
i = 0
while True:  # large bundles, so a kill lands inside a write most of the time
    i += 1
    live = target.put(make_bundle("big", "dev", n=i, blob="x" * 3_000_000), live)
"""


def test_a_writer_killed_mid_write_leaves_a_whole_bundle(tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    DirectoryTarget(folder, "dev").put(make_bundle("big", "dev", n=0), None)
    for delay in (0.05, 0.2, 0.35, 0.5, 0.8):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder)], cwd=PROJECT, stdout=subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stdout.readline().startswith(b"ready")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        live = DirectoryTarget(folder, "dev").read("big")
        assert live is not None and live.bundle.intact  # parsed whole, content hashes
        assert sorted(p.name for p in folder.glob("*.json")) == ["big.json"]
    target = DirectoryTarget(folder, "dev")
    last = target.read("big")
    result = target.write_many([Write("big", make_bundle("big", "dev", n=-1), last)])
    assert result.ok
    assert not list(folder.glob(".*.tmp"))  # a batch swept what the killed writers left


def test_a_temp_file_is_never_read_as_a_bundle(tmp_path: Path) -> None:
    target = DirectoryTarget(tmp_path, "dev")
    target.put(make_bundle("one", "dev"), None)
    (tmp_path / ".one.json.abc.tmp").write_text("{half")
    assert set(target.read_all()) == {"one"}


def test_a_bundle_edited_in_place_reads_as_not_intact(tmp_path: Path) -> None:
    target = DirectoryTarget(tmp_path, "dev")
    target.put(make_bundle("one", "dev", prompt="be nice"), None)
    path = tmp_path / "one.json"
    path.write_text(path.read_text().replace("be nice", "be rude"))
    live = target.read("one")
    assert live is not None and not live.bundle.intact


def test_a_file_that_is_not_a_bundle_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"kind": "nothing"}')
    with pytest.raises(AlmError, match=r"broken\.json: not an alm/v1 AgentBundle"):
        DirectoryTarget(tmp_path, "dev").read_all()


def test_a_relative_path_that_leaves_the_repository_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AlmError, match="leaves the repository"):
        resolve("../elsewhere", tmp_path)
    assert resolve(".alm/deployments/dev", tmp_path) == (tmp_path / ".alm/deployments/dev")
    assert resolve("/srv/alm/dev", tmp_path) == Path("/srv/alm/dev")


def test_writes_are_durable_files_with_history_lines(tmp_path: Path) -> None:
    target = DirectoryTarget(tmp_path, "dev")
    live = target.put(make_bundle("one", "dev", v=1), None)
    target.put(make_bundle("one", "dev", v=2), live)
    lines = (tmp_path / ".history" / "one.jsonl").read_bytes().splitlines()
    assert len(lines) == 2
    with open(tmp_path / ".history" / "one.jsonl", "ab") as handle:
        handle.write(b'{"revision": "torn')  # a crash mid-append
    target.put(make_bundle("one", "dev", v=3), target.read("one"))
    assert len(target.history("one")) == 3  # the torn line skipped, the next one whole
    assert os.stat(tmp_path / "one.json").st_size > 0
