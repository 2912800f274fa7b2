"""Tasks read where the OpenTelemetry Collector's ClickHouse exporter put the spans (its
`otel_traces` table), through clickhouse-connect, instead of ingesting them.

`alm ops ... --source clickhouse://user@host:port/database[?secure=true&table=otel_traces]`;
the password comes from $ALM_CLICKHOUSE_PASSWORD only. The SQL (reconciler.ops.clickhouse_sql)
selects the spans of the window's traces trace by trace; each trace's rows become
`model.Span`s and go through the same assembly as every other source
(reconciler.ops.assemble). Rows are streamed, never loaded at once, and bounded (max_rows).
docs/clickhouse.md says how to point alm at a Collector's ClickHouse.
"""

from __future__ import annotations

import heapq
import itertools
import os
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from reconciler.errors import AlmError, UsageError
from reconciler.ops.assemble import assemble
from reconciler.ops.clickhouse_sql import Query, identifier, row_span, trace_query, window_query
from reconciler.ops.model import BadSpan, Span, Task, Window

PASSWORD_ENV = "ALM_CLICKHOUSE_PASSWORD"
INSTALL = "pip install 'alm[clickhouse]'"
DEFAULT_TABLE = "otel_traces"
DEFAULT_MAX_ROWS = 2_000_000  # spans of one query; ?max_rows= in the URL changes it
_QUERY_KEYS = ("secure", "table", "max_rows")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")


@dataclass(frozen=True)
class ClickHouseURL:
    host: str
    port: int
    user: str
    database: str
    table: str = DEFAULT_TABLE
    secure: bool = False
    max_rows: int = DEFAULT_MAX_ROWS

    @property
    def label(self) -> str:
        """The URL as messages show it (it never holds a password)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = f"clickhouse://{self.user}@{host}:{self.port}/{self.database}"
        return text if self.table == DEFAULT_TABLE else f"{text}?table={self.table}"


def parse_url(url: str) -> ClickHouseURL:
    """clickhouse://user@host:port/database[?secure=true&table=otel_traces&max_rows=N]."""
    parts = urlsplit(url)
    if parts.scheme != "clickhouse" or not parts.hostname:
        raise UsageError(
            "--source: expected clickhouse://user@host:port/database[?secure=true&table=T]"
        )
    if parts.password is not None:
        # not echoed: the URL holds a secret
        raise UsageError(
            f"--source: a password in the URL is refused (it shows in process lists and "
            f"shell history); put it in ${PASSWORD_ENV}"
        )
    options = _options(parts.query)
    secure = _flag(options.get("secure", "false"))
    try:
        port = parts.port or (8443 if secure else 8123)
    except ValueError:
        raise UsageError("--source: the port is not a number from 1 to 65535") from None
    database = parts.path.strip("/") or "default"
    table = options.get("table", DEFAULT_TABLE)
    identifier(database, "database")
    identifier(table, "table")
    max_rows = _count(options.get("max_rows", str(DEFAULT_MAX_ROWS)))
    user = parts.username or "default"
    return ClickHouseURL(parts.hostname, port, user, database, table, secure, max_rows)


def _options(query: str) -> dict[str, str]:
    pairs = parse_qsl(query, keep_blank_values=True)
    unknown = sorted({key for key, _ in pairs} - set(_QUERY_KEYS))
    if unknown:
        raise UsageError(f"--source: unknown option {unknown[0]!r}; expected {_QUERY_KEYS}")
    options = dict(pairs)
    if len(options) != len(pairs):
        raise UsageError("--source: an option is given twice")
    return options


def _flag(text: str) -> bool:
    if text.lower() in _TRUE + _FALSE:
        return text.lower() in _TRUE
    raise UsageError(f"--source: secure={text[:20]!r}; expected true or false")


def _count(text: str) -> int:
    if text.isdigit() and 0 < int(text) <= 10**9:
        return int(text)
    raise UsageError(f"--source: max_rows={text[:20]!r}; expected a whole number of spans")


# --- the client ------------------------------------------------------------------------


class RowClient(Protocol):
    """What alm uses of a clickhouse_connect Client (HTTP, or chDB in process)."""

    def query_row_block_stream(
        self, query: str, parameters: dict[str, Any], settings: dict[str, Any] | None = None
    ) -> Any: ...


def open_clickhouse(url: str, known_agents: Collection[str] | None = None) -> ClickHouseSource:
    """The TaskSource of a `--source clickhouse://...` URL, connected (a first round trip
    checks the server answers and the credentials hold)."""
    target = parse_url(url)
    client = connect(target, os.environ.get(PASSWORD_ENV, ""))
    return ClickHouseSource(
        client, target.database, target.table, target.label, target.max_rows, known_agents
    )


def connect(target: ClickHouseURL, password: str) -> RowClient:
    try:
        import clickhouse_connect
        from clickhouse_connect.driver.exceptions import ClickHouseError
    except ImportError:
        raise AlmError(f"--source clickhouse:// needs the ClickHouse extra: {INSTALL}") from None
    try:
        client: RowClient = clickhouse_connect.get_client(
            host=target.host,
            port=target.port,
            username=target.user,
            password=password,
            database=target.database,
            secure=target.secure,
            connect_timeout=10,
            send_receive_timeout=300,
        )
    except ClickHouseError as error:
        raise AlmError(f"{target.label}: cannot connect: {_clean(error, password)}") from None
    return client


def _clean(error: BaseException, password: str) -> str:
    """The server's message, first line, without the password should it be echoed."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text.replace(password, "***") if password else text


# --- the source ------------------------------------------------------------------------


class ClickHouseSource:
    """model.TaskSource over an `otel_traces` table. `bad` counts the spans that did not
    make tasks, by kind, with the first example of each (as ingestion reports them)."""

    def __init__(
        self,
        client: RowClient,
        database: str,
        table: str,
        label: str,
        max_rows: int = DEFAULT_MAX_ROWS,
        known_agents: Collection[str] | None = None,
    ) -> None:
        self.client = client
        self.table = f"{identifier(database, 'database')}.{identifier(table, 'table')}"
        self.label = label
        self.max_rows = max_rows
        self.known_agents = known_agents
        self.bad: dict[str, tuple[int, BadSpan]] = {}

    def tasks(
        self, window: Window, environment: str | None = None, agent: str | None = None
    ) -> Iterator[Task]:
        query = window_query(self.table, window, environment, agent, self.max_rows)

        def keep(task: Task) -> bool:
            return (
                task.start_ns in window
                and (agent is None or task.agent == agent)
                and (environment is None or task.environment in (None, environment))
            )

        return in_start_order(self._traces(query), keep)

    def task(self, trace_id: str, agent: str | None = None) -> list[Task]:
        if not _TRACE_ID.fullmatch(trace_id):
            raise UsageError(f"trace id {trace_id[:40]!r}: expected 32 hex digits")
        query = trace_query(self.table, trace_id.lower(), self.max_rows)
        found = (task for _, tasks in self._traces(query) for task in tasks)
        return [task for task in found if agent is None or task.agent == agent]

    def _traces(self, query: Query) -> Iterator[tuple[int, list[Task]]]:
        """(the trace's first root start, its tasks) for each trace the rows hold."""
        for (first_ns, _), rows in itertools.groupby(self._rows(query), key=_trace_key):
            spans = self._spans(rows)
            if spans:  # not when every row of the trace was bad
                tasks, bad = assemble(spans, self.known_agents)
                self._count_bad(bad)
                yield first_ns, tasks

    def _spans(self, rows: Iterable[Sequence[Any]]) -> list[Span]:
        spans: dict[str, Span] = {}
        for row in rows:
            item = row_span(row, self.label)
            if isinstance(item, BadSpan):
                self._count_bad([item])
            else:  # the exporter may insert a span twice (a retried batch): keep one
                spans.setdefault(item.span_id, item)
        return list(spans.values())

    def _rows(self, query: Query) -> Iterator[Sequence[Any]]:
        from clickhouse_connect.driver.exceptions import ClickHouseError

        seen = 0
        try:
            with self.client.query_row_block_stream(query.sql, query.parameters) as stream:
                for block in stream:
                    for row in block:
                        seen += 1
                        if seen > self.max_rows:
                            raise AlmError(self._too_many())
                        yield row
        except ClickHouseError as error:
            raise AlmError(f"{self.label}: the query failed: {_clean(error, '')}") from None

    def _too_many(self) -> str:
        return (
            f"{self.label}: more than {self.max_rows} spans to read; narrow the window "
            "(--since/--until/--hours), name an agent, or raise ?max_rows= in the URL"
        )

    def _count_bad(self, bad: Iterable[BadSpan]) -> None:
        for item in bad:
            count, example = self.bad.get(item.kind, (0, item))
            self.bad[item.kind] = (count + 1, example)


def _trace_key(row: Sequence[Any]) -> tuple[int, str]:
    return int(row[11]), str(row[0])


def in_start_order(
    traces: Iterable[tuple[int, list[Task]]], keep: Callable[[Task], bool]
) -> Iterator[Task]:
    """The kept tasks oldest first. Traces arrive by their first task's start, so a task
    no later than the next trace's first start can go; only the later tasks of traces with
    several agent runs wait (a small heap)."""
    pending: list[tuple[int, int, Task]] = []
    order = itertools.count()
    for first_ns, tasks in traces:
        while pending and pending[0][0] <= first_ns:
            yield heapq.heappop(pending)[2]
        for task in filter(keep, tasks):
            heapq.heappush(pending, (task.start_ns, next(order), task))
    while pending:
        yield heapq.heappop(pending)[2]
