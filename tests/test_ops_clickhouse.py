"""alm ops --source clickhouse://: the SQL alm sends runs on a real ClickHouse engine (chDB, in
process), reached through clickhouse-connect's own chDB backend, so the client code path is the
production one (server-side parameters, Native parsing, row-block streaming) with only the HTTP
transport replaced. Rows are the exporter's mapping of real SDK spans (tests/clickhouse_support)."""

from __future__ import annotations

import socket
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace

from reconciler.errors import AlmError, UsageError
from reconciler.ops.assemble import assemble
from reconciler.ops.clickhouse import (
    INSTALL,
    ClickHouseSource,
    in_start_order,
    open_clickhouse,
    parse_url,
)
from reconciler.ops.model import NS_PER_S, Span, Task, Window
from reconciler.ops.otlp import read_lines
from reconciler.ops.tracegen import ModelStep, Recorder, TaskSpec, ToolStep
from tests.clickhouse_support import Table, exporter_row

clickhouse_connect = pytest.importorskip("clickhouse_connect")
pytest.importorskip("chdb")

HOUR = 3600 * NS_PER_S
# recent times: a test table must not hold spans a TTL would drop; the window is fixed from here
NOW = (time.time_ns() // HOUR) * HOUR - 2 * HOUR
WINDOW = Window(NOW - 6 * HOUR, NOW)


@pytest.fixture(scope="module")
def client() -> Any:
    # one chDB engine per process: every test gets its own database on it
    return clickhouse_connect.get_client(dsn="chdb://memory")


@pytest.fixture
def table(client: Any) -> Iterator[Table]:
    made = Table(client)
    yield made
    made.drop()


def source(table: Table, max_rows: int = 10_000) -> ClickHouseSource:
    return ClickHouseSource(table.client, table.database, "otel_traces", "chdb", max_rows)


def fleet() -> tuple[Recorder, Recorder]:
    """Tasks of two agents in prod and one in staging; one before the window."""
    prod, staging = Recorder("prod"), Recorder("staging")
    spec = {"revision": "sha256:" + "ab" * 32}
    prod.record(TaskSpec("triage", start_ns=NOW - 5 * HOUR, tools=[ToolStep("lookup")], **spec))
    prod.record(
        TaskSpec(
            "triage",
            start_ns=NOW - 3 * HOUR,
            tools=[ToolStep("lookup", error="Timeout"), ToolStep("escalate")],
            model=ModelStep(input_tokens=1234, output_tokens=56),
            outcome="escalated",
            success=False,
            escalation_expected=True,
            feedback="negative",
            input_text="my order is late",
            output_text="I've passed this on.",
            conversation_id="conv-1",
            **spec,
        )
    )
    prod.record(TaskSpec("billing", start_ns=NOW - 2 * HOUR, error="RateLimit", **spec))
    prod.record(TaskSpec("triage", start_ns=NOW - 9 * HOUR, **spec))  # before the window
    staging.record(TaskSpec("triage", start_ns=NOW - 4 * HOUR, success=True, **spec))
    return prod, staging


def embedded(recorders: tuple[Recorder, ...]) -> list[Task]:
    """The same spans through the OTLP JSON path: read_lines, then assemble per trace."""
    traces: dict[str, list[Span]] = defaultdict(list)
    for number, recorder in enumerate(recorders):
        for item in read_lines(recorder.lines(spans_per_line=3), f"r{number}"):
            assert isinstance(item, Span), item
            traces[item.trace_id].append(item)
    tasks = [task for spans in traces.values() for task in assemble(spans, None)[0]]
    return sorted(tasks, key=lambda task: task.start_ns)


def loaded(table: Table, style: str = "enum") -> tuple[Recorder, Recorder]:
    recorders = fleet()
    for recorder in recorders:
        table.insert(recorder.spans(), style)
    return recorders


@pytest.mark.parametrize("style", ["enum", "short"])
def test_window_tasks_equal_the_embedded_path(table: Table, style: str) -> None:
    recorders = loaded(table, style)
    expected = [task for task in embedded(recorders) if task.start_ns in WINDOW]
    got = list(source(table).tasks(WINDOW))
    assert got == expected
    assert [task.start_ns for task in got] == sorted(task.start_ns for task in got)
    assert len(got) == 4  # the task before the window is not read
    late = next(task for task in got if task.outcome == "escalated")
    assert late.usage.input_tokens == 1234 * 3  # tokens decoded back from strings
    assert (late.success, late.escalation_expected) == (False, True)  # bools too
    failed = next(task for task in got if task.agent == "billing")
    assert failed.error is not None  # "Error" / "STATUS_CODE_ERROR" read as OTLP's 2


def test_environment_and_agent_filters(table: Table) -> None:
    recorders = loaded(table)
    every = [task for task in embedded(recorders) if task.start_ns in WINDOW]
    prod = list(source(table).tasks(WINDOW, environment="prod"))
    assert prod == [task for task in every if task.environment == "prod"]
    staged = list(source(table).tasks(WINDOW, environment="staging", agent="triage"))
    assert [task.environment for task in staged] == ["staging"]
    assert list(source(table).tasks(WINDOW, agent="billing")) == [
        task for task in every if task.agent == "billing"
    ]


def test_parameters_are_never_sql(table: Table) -> None:
    loaded(table)
    hostile = "triage' OR 1=1 --"
    assert list(source(table).tasks(WINDOW, agent=hostile)) == []
    assert list(source(table).tasks(WINDOW, environment="prod') OR ('1'='1")) == []


def test_one_trace_for_promotion(table: Table) -> None:
    prod, _ = loaded(table)
    wanted = embedded((prod,))[1]
    assert source(table).task(wanted.trace_id.upper()) == [wanted]
    assert source(table).task(wanted.trace_id, agent="billing") == []
    with pytest.raises(UsageError, match="32 hex digits"):
        source(table).task("x' OR '1'='1")


def test_a_retried_batch_is_read_once(table: Table) -> None:
    recorders = loaded(table)
    table.insert(recorders[0].spans())  # the exporter inserted the batch again
    expected = [task for task in embedded(recorders) if task.start_ns in WINDOW]
    assert list(source(table).tasks(WINDOW)) == expected


def test_late_labels_and_calls_under_other_spans_reach_their_task(table: Table) -> None:
    recorder = Recorder("prod")
    recorder.record(TaskSpec("triage", "sha256:" + "cd" * 32, start_ns=NOW - HOUR))
    root = next(span for span in recorder.spans() if span.name.startswith("invoke_agent"))
    under_root = trace.set_span_in_context(trace.NonRecordingSpan(root.get_span_context()))
    hop = recorder.tracer.start_span("POST /agent", context=under_root, start_time=NOW - HOUR)
    chat = recorder.tracer.start_span(
        "chat gpt-4.1-mini",
        context=trace.set_span_in_context(hop),
        start_time=NOW - HOUR + 1,
        attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4.1-mini"},
    )
    chat.end(end_time=NOW - HOUR + 2)
    hop.end(end_time=NOW - HOUR + 3)
    later = NOW + 2 * 24 * HOUR  # a reviewer's label two days after the window
    label = recorder.tracer.start_span(
        "alm.label", context=under_root, start_time=later, attributes={"alm.feedback": "negative"}
    )
    label.end(end_time=later + 1)
    table.insert(recorder.spans())
    got = list(source(table).tasks(WINDOW))
    assert got == embedded((recorder,))
    assert got[0].feedback == "negative"
    assert len(got[0].model_calls) == 2  # the recorded one and the one under POST /agent


def test_the_row_bound_stops_with_a_clear_message(table: Table) -> None:
    loaded(table)
    with pytest.raises(AlmError, match=r"more than 5 spans to read; narrow the window"):
        list(source(table, max_rows=5).tasks(WINDOW))


def test_bad_rows_are_counted_not_fatal(table: Table) -> None:
    prod, _ = loaded(table)
    bad_id, huge = (exporter_row(span) for span in prod.spans()[:2])
    bad_id[1] = "not-a-trace-id"
    huge[11]["gen_ai.tool.call.result"] = "x" * (1024 * 1024 + 1)
    table.client.command(f"TRUNCATE TABLE {table.database}.otel_traces")
    table.insert_rows([bad_id, huge])
    reading = source(table)
    list(reading.tasks(WINDOW))  # the rows' traces have no root left: no tasks
    assert reading.task(huge[1]) == []
    assert "too-large" in reading.bad
    assert "over 1048576 characters" in reading.bad["too-large"][1].detail


def test_tasks_come_oldest_first_across_traces_with_several_runs() -> None:
    def task(trace: str, start: int) -> Task:
        return Task(trace, f"{start:016x}", "a", None, None, start, start + 1)

    traces = [(1, [task("t1", 1), task("t1", 9)]), (3, [task("t2", 3)]), (5, [task("t3", 5)])]
    got = in_start_order(traces, keep=lambda t: t.start_ns != 5)
    assert [t.start_ns for t in got] == [1, 3, 9]


# --- the URL -------------------------------------------------------------------------------


def test_url_defaults_and_options() -> None:
    plain = parse_url("clickhouse://ops@ch.internal/otel")
    assert (plain.host, plain.port, plain.user, plain.database, plain.table) == (
        "ch.internal",
        8123,
        "ops",
        "otel",
        "otel_traces",
    )
    tls = parse_url("clickhouse://ch:9440/otel?secure=true&table=spans&max_rows=10")
    assert (tls.port, tls.secure, tls.table, tls.max_rows, tls.user) == (
        9440,
        True,
        "spans",
        10,
        "default",
    )
    assert tls.label == "clickhouse://default@ch:9440/otel?table=spans"
    assert parse_url("clickhouse://h?secure=1").port == 8443


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://h/db", "expected clickhouse://"),
        ("clickhouse://h/db?table=a;drop", "letters, digits and _"),
        ("clickhouse://h/my-db", "database 'my-db'"),
        ("clickhouse://h/db?limit=3", "unknown option 'limit'"),
        ("clickhouse://h/db?secure=maybe", "secure='maybe'"),
        ("clickhouse://h/db?max_rows=0", "max_rows='0'"),
        ("clickhouse://h:99999/db", "port"),
    ],
)
def test_bad_urls_are_usage_errors(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_url(url)


def test_a_password_in_the_url_is_refused_and_never_echoed() -> None:
    with pytest.raises(UsageError) as raised:
        parse_url("clickhouse://ops:hunter2@h/db")
    assert "ALM_CLICKHOUSE_PASSWORD" in raised.value.message
    assert "hunter2" not in raised.value.message


def test_without_the_extra_the_message_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "clickhouse_connect", None)  # as if not installed
    with pytest.raises(AlmError, match="needs the ClickHouse extra") as raised:
        open_clickhouse("clickhouse://h/db")
    assert INSTALL in raised.value.message


def test_an_unreachable_server_is_named_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("ALM_CLICKHOUSE_PASSWORD", "s3cret-pw")
    with pytest.raises(AlmError, match="cannot connect") as raised:
        open_clickhouse(f"clickhouse://ops@127.0.0.1:{port}/otel")
    assert f"clickhouse://ops@127.0.0.1:{port}/otel" in raised.value.message
    assert "s3cret-pw" not in raised.value.message


def test_a_missing_table_is_an_error_naming_the_source(table: Table) -> None:
    reading = ClickHouseSource(table.client, table.database, "spans", "clickhouse://h/db", 10)
    with pytest.raises(AlmError, match=r"^clickhouse://h/db: the query failed: .*spans"):
        list(reading.tasks(WINDOW))
