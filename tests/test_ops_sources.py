"""--db / --source to a TaskSource (reconciler.ops.sources), on real store files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from reconciler.cli.ops_options import DEFAULT_DB
from reconciler.errors import AlmError, ExitCode, UsageError
from reconciler.ops.sources import (
    DEFAULT_STORE,
    SCHEMES,
    known_agents,
    open_source,
    redact,
)
from reconciler.ops.store import TraceStore, open_store


def ingested(path: Path) -> Path:
    """A store as `alm ops ingest` leaves it (empty: no span yet)."""
    open_store(path).close()
    return path


def test_the_default_is_the_repositorys_store(tmp_path: Path) -> None:
    assert DEFAULT_STORE == DEFAULT_DB
    ingested(tmp_path / ".alm" / "ops" / "traces.db")
    source = open_source(tmp_path, None, None)
    assert isinstance(source, TraceStore)
    assert source.label == str(tmp_path / ".alm" / "ops" / "traces.db")
    source.close()


def test_db_and_sqlite_urls_name_a_store_file(tmp_path: Path) -> None:
    for db, url, made in (
        (tmp_path / "a.db", None, tmp_path / "a.db"),
        (None, f"sqlite://{tmp_path}/b.db", tmp_path / "b.db"),
        (None, f"sqlite:{tmp_path}/c.db", tmp_path / "c.db"),
    ):
        ingested(made)
        source = open_source(tmp_path / "repo", db, url)
        assert isinstance(source, TraceStore) and source.label == str(made)
        source.close()


@pytest.mark.parametrize("where", [("db",), ("url",), ()])
def test_reading_a_store_that_is_not_there_is_an_error(tmp_path: Path, where) -> None:
    """A typo in --db, or a check before any ingest, is never an empty store that passes;
    and nothing is created."""
    missing = tmp_path / "tarces.db"
    db = missing if "db" in where else None
    url = f"sqlite:{missing}" if "url" in where else None
    path = missing if where else tmp_path / ".alm" / "ops" / "traces.db"
    with pytest.raises(AlmError) as caught:
        open_source(tmp_path, db, url)
    assert caught.value.exit_code == ExitCode.INVALID
    assert caught.value.message.startswith(f"{path}: no trace store there; expected one")
    assert not path.exists() and not (tmp_path / ".alm").exists()


def test_db_with_source_and_unknown_schemes_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--db and --source"):
        open_source(tmp_path, tmp_path / "a.db", "sqlite:x.db")
    with pytest.raises(UsageError) as caught:
        open_source(tmp_path, None, "postgres://me:hunter2@db/x")
    assert caught.value.exit_code == ExitCode.USAGE
    assert "expected one of sqlite://, clickhouse://" in caught.value.message
    assert "hunter2" not in caught.value.message and "me:***@db" in caught.value.message


def test_clickhouse_without_the_extra_names_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the extra not installed: importing its client fails as it does then
    monkeypatch.setitem(sys.modules, "clickhouse_connect", None)
    with pytest.raises(AlmError, match=r"pip install 'alm\[clickhouse\]'"):
        open_source(tmp_path, None, "clickhouse://me@localhost:8123/otel")
    assert set(SCHEMES) == {"sqlite", "clickhouse"}


def test_redact_hides_only_the_password() -> None:
    assert redact("clickhouse://u:pw@h:9000/db?x=1") == "clickhouse://u:***@h:9000/db?x=1"
    assert redact("clickhouse://u@h/db") == "clickhouse://u@h/db"
    assert redact("sqlite:/tmp/x.db") == "sqlite:/tmp/x.db"


def test_known_agents_are_the_folders_with_an_agent_yaml(tmp_path: Path) -> None:
    for name in ("support", "billing"):
        (tmp_path / "agents" / name).mkdir(parents=True)
        (tmp_path / "agents" / name / "agent.yaml").write_text("kind: Agent\n")
    (tmp_path / "agents" / "notes").mkdir()
    assert known_agents(tmp_path) == {"support", "billing"}
