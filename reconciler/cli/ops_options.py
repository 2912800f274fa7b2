"""Options every `alm ops` command shares: where the traces are (--db / --source) and which
window of them (--since / --until / --hours)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler.ops.model import Window, parse_window
from reconciler.ops.sources import DEFAULT_STORE, default_store

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DB = DEFAULT_STORE  # one default, defined where the store is opened


def db_path(root: Path, db: Path | None) -> Path:
    """--db, relative to the current directory; by default .alm/ops/traces.db in the
    repository (a local store: .alm/ is not committed; never behind a link out of it)."""
    return db if db is not None else default_store(root)


def source_options(function: F) -> F:
    function = click.option(
        "--source",
        metavar="URL",
        help="read traces where they already are instead of the embedded store: "
        "clickhouse://user@host:port/database (needs alm[clickhouse]; password from "
        "$ALM_CLICKHOUSE_PASSWORD)",
    )(function)
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"the embedded trace store (default: {DEFAULT_DB} in the repository)",
    )(function)


def window_options(function: F) -> F:
    function = click.option(
        "--hours", type=float, help="the last N hours (default 24, ending --until or now)"
    )(function)
    function = click.option(
        "--until", metavar="WHEN", help="window end: ISO 8601 time or duration before now"
    )(function)
    return click.option(
        "--since",
        metavar="WHEN",
        help="window start: a duration before now (30m, 24h, 7d) or an ISO 8601 time",
    )(function)


def window_of(since: str | None, until: str | None, hours: float | None) -> Window:
    return parse_window(since, until, hours)
