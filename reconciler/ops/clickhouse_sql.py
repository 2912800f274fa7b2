"""The SQL alm sends to a ClickHouse holding the Collector's `otel_traces` table, and what its
rows mean: turning a row back into a `model.Span`.

Pure: no client here. Every value from the user (window, environment, agent, trace id) is a
server-side parameter ({name:Type}); only the database and table names are written into the
text, and only after `identifier` has checked them. The schema read is the one the
OpenTelemetry Collector's ClickHouse exporter creates (docs/clickhouse.md): attributes are
`Map(LowCardinality(String), String)`, so every value arrives as a string and the typed ones
are decoded here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.errors import UsageError
from reconciler.ops.model import NS_PER_S, BadSpan, Span, Window
from reconciler.ops.otlp import MAX_ATTRIBUTE

# the span attributes alm reads (docs/traces.md); nothing else leaves the server
SPAN_KEYS: tuple[str, ...] = (
    "gen_ai.operation.name",
    "gen_ai.agent.name",
    "gen_ai.agent.version",
    "gen_ai.conversation.id",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.tool.name",
    "gen_ai.tool.call.id",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "error.type",
    "alm.task.outcome",
    "alm.task.success",
    "alm.feedback",
    "alm.escalation.expected",
)
RESOURCE_KEYS: tuple[str, ...] = (
    "service.name",
    "deployment.environment.name",
    "deployment.environment",
)

CLOCK_SKEW_NS = 3600 * NS_PER_S  # a child span may start this much before its root
LABEL_HORIZON_NS = 7 * 86400 * NS_PER_S  # alm.label spans are read this long after the window

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

# the exporter writes OTLP's enum names ("STATUS_CODE_ERROR"); newer versions the short
# Go names ("Error"); matched without case
_STATUS = {
    "": 0,
    "unset": 0,
    "status_code_unset": 0,
    "ok": 1,
    "status_code_ok": 1,
    "error": 2,
    "status_code_error": 2,
}


def identifier(name: str, what: str) -> str:
    """`name` quoted for the SQL text, once it is a plain identifier (never user SQL)."""
    if not _IDENTIFIER.fullmatch(name):
        raise UsageError(
            f"ClickHouse {what} {name!r}: expected letters, digits and _ (not starting "
            "with a digit), at most 128"
        )
    return f"`{name}`"


@dataclass(frozen=True)
class Query:
    sql: str
    parameters: dict[str, Any]


# one row: the columns both queries select, in this order
_COLUMNS = """
    s.TraceId, s.SpanId, s.ParentSpanId, s.SpanName,
    toUnixTimestamp64Nano(s.Timestamp) AS start_ns, s.Duration, s.StatusCode, s.StatusMessage,
    mapFilter((k, v) -> has({span_keys:Array(String)}, k) AND lengthUTF8(v) <= {max_chars:UInt64},
              s.SpanAttributes) AS attributes,
    mapKeys(mapFilter((k, v) -> has({span_keys:Array(String)}, k)
                      AND lengthUTF8(v) > {max_chars:UInt64}, s.SpanAttributes)) AS too_large,
    mapFilter((k, v) -> has({resource_keys:Array(String)}, k)
              AND lengthUTF8(v) <= {max_chars:UInt64}, s.ResourceAttributes) AS resource"""

_ENVIRONMENT = """if(ResourceAttributes['deployment.environment.name'] != '',
       ResourceAttributes['deployment.environment.name'],
       ResourceAttributes['deployment.environment'])"""

_WINDOW_SQL = """
WITH roots AS (
    SELECT TraceId, min(toUnixTimestamp64Nano(Timestamp)) AS first_ns
    FROM {table}
    WHERE Timestamp >= fromUnixTimestamp64Nano({{start_ns:Int64}})
      AND Timestamp < fromUnixTimestamp64Nano({{end_ns:Int64}})
      AND SpanAttributes['gen_ai.operation.name'] = 'invoke_agent'{filters}
    GROUP BY TraceId
)
SELECT {columns},
    r.first_ns
FROM {table} AS s INNER JOIN roots AS r ON s.TraceId = r.TraceId
WHERE s.TraceId IN (SELECT TraceId FROM roots)
  AND s.Timestamp >= fromUnixTimestamp64Nano({{low_ns:Int64}})
  AND s.Timestamp < fromUnixTimestamp64Nano({{high_ns:Int64}})
ORDER BY r.first_ns, s.TraceId, start_ns
LIMIT {{limit:UInt64}}
"""

_TRACE_SQL = """
SELECT {columns},
    toInt64(0) AS first_ns
FROM {table} AS s
WHERE s.TraceId = {{trace_id:String}}
ORDER BY start_ns
LIMIT {{limit:UInt64}}
"""


def _common(max_rows: int) -> dict[str, Any]:
    return {
        "span_keys": list(SPAN_KEYS),
        "resource_keys": list(RESOURCE_KEYS),
        "max_chars": MAX_ATTRIBUTE,
        "limit": max_rows + 1,  # one more than allowed tells the bound was hit
    }


def window_query(
    table: str, window: Window, environment: str | None, agent: str | None, max_rows: int
) -> Query:
    """The spans of the traces that have an invoke_agent span started in the window (of the
    environment, of the agent), trace by trace, the earliest trace first."""
    filters, parameters = "", _common(max_rows)
    if environment is not None:
        # a task without an environment counts in every environment (model.TaskSource)
        filters += f"\n      AND {_ENVIRONMENT} IN ({{environment:String}}, '')"
        parameters["environment"] = environment
    if agent is not None:
        filters += "\n      AND SpanAttributes['gen_ai.agent.name'] = {agent:String}"
        parameters["agent"] = agent
    parameters |= {
        "start_ns": window.start_ns,
        "end_ns": window.end_ns,
        "low_ns": window.start_ns - CLOCK_SKEW_NS,
        "high_ns": window.end_ns + LABEL_HORIZON_NS,
    }
    sql = _WINDOW_SQL.format(table=table, filters=filters, columns=_COLUMNS)
    return Query(sql, parameters)


def trace_query(table: str, trace_id: str, max_rows: int) -> Query:
    """Every span of one trace."""
    sql = _TRACE_SQL.format(table=table, columns=_COLUMNS)
    return Query(sql, _common(max_rows) | {"trace_id": trace_id})


# --- rows ------------------------------------------------------------------------------


def _integer(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text  # left as text: assembly reports it as wrong-type


def _boolean(text: str) -> Any:
    return {"true": True, "false": False}.get(text, text)


# the attributes alm reads that are not strings; the exporter wrote them with AsString()
_TYPED: dict[str, Callable[[str], Any]] = {
    "gen_ai.usage.input_tokens": _integer,
    "gen_ai.usage.output_tokens": _integer,
    "gen_ai.usage.cache_read.input_tokens": _integer,
    "alm.task.success": _boolean,
    "alm.escalation.expected": _boolean,
}

_HEX = re.compile(r"[0-9a-f]+")


def _typed(attributes: Mapping[str, str]) -> dict[str, Any]:
    return {key: _TYPED.get(key, str)(value) for key, value in attributes.items()}


def _bad_ids(trace_id: str, span_id: str, parent: str) -> str | None:
    for name, value, width in (("TraceId", trace_id, 32), ("SpanId", span_id, 16)):
        if len(value) != width or not _HEX.fullmatch(value):
            return f"{name} {value[:40]!r} is not {width} hex digits"
    if parent and (len(parent) != 16 or not _HEX.fullmatch(parent)):
        return f"ParentSpanId {parent[:40]!r} is not 16 hex digits"
    return None


def row_span(row: Sequence[Any], where: str) -> Span | BadSpan:
    """One selected row as a `Span` (ids lowercased, typed attributes decoded)."""
    trace_id, span_id, parent = (str(value).lower() for value in row[:3])
    name, start_ns, duration, status, message, attributes, too_large, resource = row[3:11]
    place = f"{where} trace {trace_id[:40]}"
    if problem := _bad_ids(trace_id, span_id, parent):
        return BadSpan("bad-id", place, problem)
    if too_large:
        keys = ", ".join(sorted(too_large))
        return BadSpan(
            "too-large", place, f"span {span_id}: {keys} over {MAX_ATTRIBUTE} characters"
        )
    code = _STATUS.get(str(status).lower())
    if code is None:
        return BadSpan("wrong-type", place, f"span {span_id}: StatusCode {str(status)[:40]!r}")
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent or None,
        name=str(name),
        start_ns=int(start_ns),
        end_ns=int(start_ns) + int(duration),
        status_code=code,
        status_message=str(message),
        attributes=_typed(attributes),
        resource=dict(resource),
    )
