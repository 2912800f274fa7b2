"""An `otel_traces` table as the OpenTelemetry Collector's ClickHouse exporter makes and fills
it, in chDB (ClickHouse in process), reached through clickhouse-connect's own chDB backend.

The DDL is the exporter's (exporter/clickhouseexporter, internal/sql_templates/traces_table.sql)
with its defaults: engine MergeTree(), no TTL (ttl: 0), no cluster. `exporter_row` maps a
finished SDK span to the columns as the exporter's pushTraceData does: attributes through
pcommon's AsString (every value a string), ids as hex, Duration in ns, the status and kind as
names ("STATUS_CODE_ERROR" from older exporters, "Error" from newer ones).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

DDL = """
CREATE TABLE IF NOT EXISTS {database}.otel_traces (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
SETTINGS index_granularity=8192, ttl_only_drop_parts = 1
"""

COLUMNS = [
    "Timestamp",
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "TraceState",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "SpanAttributes",
    "Duration",
    "StatusCode",
    "StatusMessage",
    "Events.Timestamp",
    "Events.Name",
    "Events.Attributes",
    "Links.TraceId",
    "Links.SpanId",
    "Links.TraceState",
    "Links.Attributes",
]

# OTLP's enum names (traceutil.StatusCodeStr / SpanKindStr) and pdata's String() names
_STATUS = {"enum": ("STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR")}
_STATUS["short"] = ("Unset", "Ok", "Error")
_KIND = {"enum": "SPAN_KIND_{}", "short": "{}"}


def as_string(value: Any) -> str:
    """pcommon.Value.AsString: a string as is, bools true/false, numbers in decimal,
    arrays as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(list(value), separators=(",", ":"))


def _strings(attributes: Mapping[str, Any] | None) -> dict[str, str]:
    return {key: as_string(value) for key, value in (attributes or {}).items()}


def exporter_row(span: ReadableSpan, style: str = "enum") -> list[Any]:
    context, parent = span.get_span_context(), span.parent
    assert context is not None and span.start_time is not None and span.end_time is not None
    kind = span.kind.name.title() if style == "short" else span.kind.name
    events = span.events
    return [
        span.start_time,  # ns: clickhouse-connect writes an int as DateTime64(9) ticks
        format(context.trace_id, "032x"),
        format(context.span_id, "016x"),
        format(parent.span_id, "016x") if parent else "",
        "",
        span.name,
        _KIND[style].format(kind),
        str(span.resource.attributes.get("service.name", "")),
        _strings(span.resource.attributes),
        span.instrumentation_scope.name if span.instrumentation_scope else "",
        (span.instrumentation_scope.version or "") if span.instrumentation_scope else "",
        _strings(span.attributes),
        span.end_time - span.start_time,
        _STATUS[style][span.status.status_code.value],
        span.status.description or "",
        [event.timestamp for event in events],
        [event.name for event in events],
        [_strings(event.attributes) for event in events],
        [],
        [],
        [],
        [],
    ]


class Table:
    """A fresh database with the exporter's otel_traces table, on a chDB-backed client."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.database = f"alm_{uuid.uuid4().hex[:12]}"
        client.command(f"CREATE DATABASE {self.database}")
        client.command(DDL.format(database=self.database))

    def insert(self, spans: Iterable[ReadableSpan], style: str = "enum") -> None:
        self.insert_rows([exporter_row(span, style) for span in spans])

    def insert_rows(self, rows: Sequence[list[Any]]) -> None:
        self.client.insert("otel_traces", list(rows), column_names=COLUMNS, database=self.database)

    def drop(self) -> None:
        self.client.command(f"DROP DATABASE IF EXISTS {self.database}")
