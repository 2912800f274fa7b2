"""Rows of the trace store: spans to columns and back, tasks to compact JSON and back."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import fields
from typing import Any

from reconciler.ops.model import ModelUse, Span, Task, ToolUse

_TASK_FIELDS = tuple(f.name for f in fields(Task))
_CALLS = {"model_calls": ModelUse, "tool_calls": ToolUse}
_BYTES = "__alm_bytes__"  # bytesValue attributes, which JSON has no type for


def _default(value: object) -> object:
    if isinstance(value, bytes):
        return {_BYTES: base64.b64encode(value).decode()}
    raise TypeError(f"{type(value).__name__} is not stored")


def _hook(data: dict[str, Any]) -> Any:
    if len(data) == 1 and _BYTES in data:
        return base64.b64decode(data[_BYTES])
    return data


def _loads(text: str) -> Any:
    return json.loads(text, object_hook=_hook) if _BYTES in text else json.loads(text)


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_default).encode

SpanRow = tuple[str, str, str | None, str, int, int, int, str, str, int]


def compact(value: Any) -> str:
    return _dumps(value)


def decode(text: str) -> Any:
    """What compact encoded (bytes values back as bytes)."""
    return _loads(text)


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
        trace_id, span_id, parent, name, start, end, code, message, _loads(attributes), resource
    )


def task_json(task: Task) -> str:
    data = {name: getattr(task, name) for name in _TASK_FIELDS}
    for key in _CALLS:
        data[key] = [call.__dict__ for call in data[key]]
    return _dumps(data)


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
    data: dict[str, Any] = _loads(body)
    for key, kind in _CALLS.items():
        data[key] = tuple(kind(**call) for call in data.get(key, ()))
    return Task(**data)
