"""The plain data of the Operate stage: spans as read, tasks as assembled, windows, breaches.

Reading (reconciler.ops.otlp) turns OTLP JSON into `Span`s and `BadSpan`s; assembly
(reconciler.ops.assemble) turns the spans of one trace into `Task`s, one per
`invoke_agent` span; a `TaskSource` (the embedded store, or ClickHouse) answers "the
tasks of this window". Online metrics, checks, the report and promotion read `Task`s only,
so every source feeds every consumer. Conventions: docs/traces.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, Protocol

from reconciler.errors import UsageError
from reconciler.pricing import PriceBook, TokenUsage

Outcome = Literal["resolved", "escalated", "refused"]
Feedback = Literal["positive", "negative"]

# what a bad span can be; each is counted and reported with one example, never fatal
BAD_KINDS: dict[str, str] = {
    "bad-json": "a line that is not JSON",
    "not-otlp": "JSON that is not an OTLP export ({'resourceSpans': [...]})",
    "missing-id": "a span without traceId or spanId",
    "bad-id": "a traceId/spanId that is not 32/16 hex digits",
    "wrong-type": "an attribute or field of the wrong type (e.g. tokens that are not integers)",
    "bad-time": "a span whose times are missing or end before they start",
    "unknown-agent": "an invoke_agent span naming an agent the repository does not declare",
    "no-root": "spans of a trace with no invoke_agent span to belong to",
    "too-large": "a line or attribute over alm's size limit",
}

NS_PER_S = 1_000_000_000


_NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})


class Span(NamedTuple):
    """One span as OTLP JSON carried it; attribute values decoded from AnyValue.

    A NamedTuple rather than a frozen dataclass: an ingest builds one per span, and this
    builds four times faster (a frozen dataclass sets each field through
    object.__setattr__)."""

    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    parent_span_id: str | None
    name: str
    start_ns: int  # unix nanoseconds
    end_ns: int
    status_code: int = 0  # 0 unset, 1 ok, 2 error (OTLP StatusCode)
    status_message: str = ""
    attributes: Mapping[str, Any] = _NO_ATTRIBUTES
    resource: Mapping[str, Any] = _NO_ATTRIBUTES  # shared by a resource's spans

    @property
    def operation(self) -> str | None:
        """gen_ai.operation.name (invoke_agent, chat, execute_tool, ...)."""
        value = self.attributes.get("gen_ai.operation.name")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class BadSpan:
    kind: str  # a key of BAD_KINDS
    where: str  # "file:line" of the export line, or "trace <id>"
    detail: str  # what was wrong, in a sentence (untrusted text clipped by the reader)


@dataclass(frozen=True)
class ModelUse:
    """One `chat` span of a task."""

    span_id: str
    provider: str  # gen_ai.provider.name, else gen_ai.system, else "unknown"
    model: str  # gen_ai.response.model, else gen_ai.request.model
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0  # gen_ai.usage.cache_read.input_tokens when present
    start_ns: int = 0
    end_ns: int = 0

    @property
    def usage(self) -> TokenUsage:
        return TokenUsage(self.input_tokens, self.output_tokens, self.cached_input_tokens)


@dataclass(frozen=True)
class ToolUse:
    """One `execute_tool` span of a task."""

    span_id: str
    tool: str  # gen_ai.tool.name
    call_id: str | None = None  # gen_ai.tool.call.id
    error: str | None = None  # error.type, or the status message of an ERROR span
    arguments: Any = None  # gen_ai.tool.call.arguments (JSON-decoded) when recorded
    result: Any = None  # gen_ai.tool.call.result (JSON-decoded) when recorded
    start_ns: int = 0
    end_ns: int = 0


@dataclass(frozen=True)
class Task:
    """One run of one agent: an `invoke_agent` span and the chat and execute_tool spans
    under it (nearest invoke_agent ancestor), in start order."""

    trace_id: str
    span_id: str  # of the invoke_agent span
    agent: str  # gen_ai.agent.name
    revision: str | None  # gen_ai.agent.version: the bundle revision that ran
    environment: str | None  # resource deployment.environment.name (else .environment)
    start_ns: int
    end_ns: int
    conversation_id: str | None = None
    error: str | None = None  # error.type / status message when the invoke_agent span failed
    model_calls: tuple[ModelUse, ...] = ()
    tool_calls: tuple[ToolUse, ...] = ()
    input_text: str | None = None  # from gen_ai.input.messages (the user's text)
    output_text: str | None = None  # from gen_ai.output.messages (the final answer)
    outcome: Outcome | None = None  # alm.task.outcome; None: derived as the evals do
    success: bool | None = None  # alm.task.success: a business label, when the runtime knows
    feedback: Feedback | None = None  # alm.feedback
    escalation_expected: bool | None = None  # alm.escalation.expected: a reviewer's label

    @property
    def latency_s(self) -> float:
        return max(self.end_ns - self.start_ns, 0) / NS_PER_S

    @property
    def usage(self) -> TokenUsage:
        calls = self.model_calls
        return TokenUsage(
            sum(c.input_tokens for c in calls),
            sum(c.output_tokens for c in calls),
            sum(c.cached_input_tokens for c in calls),
        )


def task_cost(task: Task, prices: PriceBook) -> float | None:
    """USD of a task's model calls (genai-prices + policies/ overrides); None when a
    model is not priced (the report counts those, never prices them at 0)."""
    total = 0.0
    for call in task.model_calls:
        if not prices.known(call.provider, call.model):
            return None
        total += prices.cost_usd(call.provider, call.model, call.usage)
    return total


# --- windows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """[start_ns, end_ns): tasks are in it by their invoke_agent span's start."""

    start_ns: int
    end_ns: int

    def __contains__(self, time_ns: int) -> bool:
        return self.start_ns <= time_ns < self.end_ns

    def describe(self) -> str:
        start, end = (_iso(t) for t in (self.start_ns, self.end_ns))
        return f"{start} to {end} ({_hours(self.end_ns - self.start_ns)})"


_DURATION = re.compile(r"(\d{1,6})([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DEFAULT_HOURS = 24
MAX_NS = (1 << 63) - 1  # the store's largest integer: 2262-04-11T23:47:16Z
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(text: str, now: datetime, option: str) -> int:
    """Unix ns of `text`: a duration before now (90m, 24h, 7d) or an ISO 8601 time
    (a time without zone is UTC), held between 1970 and MAX_NS (no span is outside:
    --since 0001-01-01 or 999999w means from the first trace, --until 9999-12-31 to the
    last)."""
    value = text.strip()
    if match := _DURATION.fullmatch(value):
        seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
        return _bounded(_ns(now) - seconds * NS_PER_S)
    try:  # upper(): RFC 3339 allows a lowercase t and z
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: expected a duration before now (30m, 24h, 7d) or an "
            "ISO 8601 time (2026-11-30T12:00:00Z)"
        ) from None
    return _bounded(_ns(moment if moment.tzinfo else moment.replace(tzinfo=UTC)))


def parse_window(
    since: str | None, until: str | None, hours: float | None, now: datetime | None = None
) -> Window:
    """The window of --since/--until, or of the last --hours (24 by default)."""
    moment = now or datetime.now(UTC)
    if since is not None and hours is not None:
        raise UsageError("--since and --hours both give the window's start; expected one")
    if hours is not None and not (math.isfinite(hours) and hours > 0):
        raise UsageError(f"--hours {hours}: expected a positive number of hours")
    end = parse_time(until, moment, "--until") if until is not None else _bounded(_ns(moment))
    if since is not None:
        start = parse_time(since, moment, "--since")
    else:  # float hours: a span past the epoch (or infinite once in ns) starts at it
        span = (hours or DEFAULT_HOURS) * 3600 * NS_PER_S
        start = _bounded(end - int(span)) if span < end else 0
    if start >= end:
        raise UsageError(f"the window starts at {_iso(start)}, not before its end {_iso(end)}")
    return Window(start, end)


def _ns(moment: datetime) -> int:
    """Exact unix ns (a timestamp() float would round, and overflow near year 1)."""
    elapsed = moment - _EPOCH
    return (elapsed.days * 86400 + elapsed.seconds) * NS_PER_S + elapsed.microseconds * 1000


def _bounded(time_ns: int) -> int:
    return min(max(time_ns, 0), MAX_NS)


def _iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / NS_PER_S, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hours(span_ns: int) -> str:
    hours = span_ns / NS_PER_S / 3600
    return f"{hours:g} h" if hours < 48 else f"{hours / 24:g} d"


# --- sources ---------------------------------------------------------------------------


class TaskSource(Protocol):
    """Where tasks are read from: the embedded store, or ClickHouse."""

    label: str  # for messages: "traces.db", "clickhouse://host/db"

    def tasks(
        self,
        window: Window,
        environment: str | None = None,
        agent: str | None = None,
    ) -> Iterator[Task]:
        """The tasks started in the window, oldest first, optionally of one environment
        (tasks without one count in every environment) and one agent."""
        ...

    def task(self, trace_id: str, agent: str | None = None) -> list[Task]:
        """The tasks of one trace (of one agent), for promotion."""
        ...


# --- checks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    """One metric of one agent outside its bound with confidence, in one window."""

    agent: str
    environment: str
    revision: str | None
    metric: str  # as in contract.success_metrics
    bound: Literal["min", "max"]
    threshold: float
    value: float
    low: float | None  # the confidence interval of the value, when it has one
    high: float | None
    samples: int  # tasks in the window (the metric's denominator)
    window: Window
    example_traces: tuple[str, ...]  # trace ids of failing tasks, at most a handful
    against: Literal["contract", "baseline"] = "contract"  # the eval baseline of the revision
