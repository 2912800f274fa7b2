"""Rows of the trace store: spans to columns and back, tasks to compact JSON and back."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from reconciler.errors import AlmError
from reconciler.ops.model import Span, Task

# msgspec encodes dataclasses, dicts and lists in C, in the order json.dumps would with
# separators=(",", ":") and ensure_ascii=False (the same bytes), ~8x faster; its decoder
# builds a Task straight from JSON (~6x faster than json.loads and rebuilding it)
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_decode_task = msgspec.json.Decoder(Task).decode


def _dumps(value: Any) -> str:
    return _encode(value).decode()


SpanRow = tuple[str, str, str | None, str, int, int, int, str, str, int]


def compact(value: Any) -> str:
    return _dumps(value)


def decode(text: str) -> Any:
    """What compact encoded."""
    return _decode(text)


def span_row(span: Span, resource_id: int) -> SpanRow:
    return (
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.name,
        span.start_ns,
        span.end_ns,
        span.status_code,
        span.status_message,
        _dumps(dict(span.attributes)),
        resource_id,
    )


def span_of(row: tuple[Any, ...], resource: dict[str, Any]) -> Span:
    """A span from the columns of span_row (resource id replaced by the decoded resource)."""
    trace_id, span_id, parent, name, start, end, code, message, attributes = row[:9]
    return Span(
        trace_id, span_id, parent, name, start, end, code, message, _decode(attributes), resource
    )


def task_json(task: Task) -> str:
    return _dumps(task)


# the fields of a task its grade depends on (reconciler.ops.online): not its ids, times,
# input or usage; each tool call as (tool, error, arguments)
GRADE_FIELDS = ("output_text", "outcome", "success", "feedback", "escalation_expected", "error")
TaskRow = tuple[str, str, str, str | None, str | None, int, str, int, str, str, str]


def grade_json(task: Task) -> str:
    """The part of a task grading reads, as compact JSON (keys in a fixed order)."""
    data: dict[str, Any] = {name: getattr(task, name) for name in GRADE_FIELDS}
    data["tools"] = [[c.tool, c.error, c.arguments] for c in task.tool_calls]
    return _dumps(data)


def usage_json(task: Task) -> str:
    """[[provider, model, input, output, cached input], ...] of the task's model calls."""
    calls = task.model_calls
    return _dumps(
        [
            [c.provider, c.model, c.input_tokens, c.output_tokens, c.cached_input_tokens]
            for c in calls
        ]
    )


def task_row(task: Task) -> TaskRow:
    """The tasks table's columns: ids, agent, revision, environment, start, the whole task
    as JSON, then latency, usage, grade key and grade (migration 3)."""
    grade = grade_json(task)
    return (
        task.trace_id,
        task.span_id,
        task.agent,
        task.revision,
        task.environment,
        task.start_ns,
        task_json(task),
        max(task.end_ns - task.start_ns, 0),
        usage_json(task),
        hashlib.blake2b(grade.encode(), digest_size=16).hexdigest(),
        grade,
    )


def task_of(body: str) -> Task:
    try:
        return _decode_task(body)
    except msgspec.DecodeError as error:
        raise AlmError(f"the trace store holds a task alm cannot read ({error})") from None
