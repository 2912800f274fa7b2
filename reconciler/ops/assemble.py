"""Assembling the spans of one trace into `Task`s (docs/traces.md).

A task is one `invoke_agent` span with the model and tool spans whose nearest
`invoke_agent` ancestor it is, so a sub-agent's calls belong to the sub-agent. Spans
arrive in any order, from any source: the GenAI attribute types are checked again here
(reconciler.ops.otlp_values.GENAI_TYPES) for sources that did not go through the reader, and the
alm.* labels are checked only here: a bad label is reported and ignored, its task kept.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.ops.genai_text import json_or_raw, last_text
from reconciler.ops.model import BadSpan, ModelUse, Span, Task, ToolUse
from reconciler.ops.otlp_values import coerced_genai, quoted

AGENT_OPERATION = "invoke_agent"
MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
TOOL_OPERATION = "execute_tool"
LABEL_SPAN = "alm.label"
_MISSING = "\0missing"  # an owner: the span's ancestry leaves the trace before an agent
_ENVIRONMENT = ("deployment.environment.name", "deployment.environment")


@dataclass
class _Parts:
    """The spans of one task, gathered before it is built."""

    models: list[Span] = field(default_factory=list)
    tools: list[Span] = field(default_factory=list)
    labels: list[Span] = field(default_factory=list)


def assemble(
    spans: Sequence[Span], known_agents: Collection[str] | None
) -> tuple[list[Task], list[BadSpan]]:
    """The tasks of one trace's spans (any order), sorted by start, and what was bad:
    wrong-typed attributes, unknown agents, spans with no invoke_agent to belong to."""
    if not spans:
        return [], []
    where = f"trace {spans[0].trace_id}"
    bad: list[BadSpan] = []
    by_id = {span.span_id: span for span in reversed(_checked(spans, where, bad))}
    roots = {sid: span for sid, span in by_id.items() if _is_agent(span)}
    parts, orphans = _gather(by_id, roots)
    if orphans:
        bad.append(BadSpan("no-root", where, _orphan_detail(orphans, len(roots))))
    tasks = []
    for root in sorted(roots.values(), key=_start_order):  # tasks and reports in start order
        task = _task(root, parts.get(root.span_id, _Parts()), known_agents, where, bad)
        if task is not None:
            tasks.append(task)
    return tasks, bad


def _checked(spans: Sequence[Span], where: str, bad: list[BadSpan]) -> list[Span]:
    """The spans whose GenAI attributes have their types (coerced as the reader does);
    the others reported as wrong-type and dropped, as the reader drops them."""
    kept = []
    for span in sorted(spans, key=_start_order):  # reports in an order the input cannot change
        try:
            coerced = coerced_genai(span.attributes)
        except ValueError as error:
            bad.append(BadSpan("wrong-type", where, f"span {span.span_id}: {error}"))
            continue
        kept.append(span if coerced is None else span._replace(attributes=coerced))
    return kept


def _is_agent(span: Span) -> bool:
    operation = span.operation
    if operation is None:
        return span.name.startswith(AGENT_OPERATION + " ")
    return operation == AGENT_OPERATION


def _gather(by_id: dict[str, Span], roots: dict[str, Span]) -> tuple[dict[str, _Parts], int]:
    """Each task's model, tool and label spans; how many could belong to no task."""
    parts: dict[str, _Parts] = {}
    memo: dict[str, str | None] = {}
    orphans = 0
    for span in by_id.values():
        kind = _kind(span)
        if kind is None:
            continue
        owner = _owner(span, by_id, roots, memo)
        if owner == _MISSING:  # its parent is not in the trace (yet)
            owner = next(iter(roots)) if len(roots) == 1 else None
            orphans += owner is None
        if owner is not None:
            getattr(parts.setdefault(owner, _Parts()), kind).append(span)
    if not roots:
        orphans = sum(1 for span in by_id.values() if span.operation or span.name == LABEL_SPAN)
    return parts, orphans


def _kind(span: Span) -> str | None:
    """Which list of a task the span goes to, if any."""
    if span.name == LABEL_SPAN:
        return "labels"
    operation = span.operation
    if operation in MODEL_OPERATIONS:
        return "models"
    return "tools" if operation == TOOL_OPERATION else None


def _owner(
    span: Span, by_id: dict[str, Span], roots: dict[str, Span], memo: dict[str, str | None]
) -> str | None:
    """The span id of the nearest invoke_agent ancestor; _MISSING when the ancestry
    leaves the trace first, None when it ends (or loops) without one."""
    path: list[str] = []
    seen: set[str] = set()
    current = span.parent_span_id
    while True:
        if current is None or current in seen:
            owner: str | None = None
            break
        if current in memo:
            owner = memo[current]
            break
        if current in roots:
            owner = current
            break
        parent = by_id.get(current)
        if parent is None:
            owner = _MISSING
            break
        path.append(current)
        seen.add(current)
        current = parent.parent_span_id
    memo.update(dict.fromkeys(path, owner))  # non-agent spans on the way share the owner
    return owner


def _orphan_detail(orphans: int, roots: int) -> str:
    if roots == 0:
        return f"{orphans} GenAI span(s) and no invoke_agent span in the trace"
    return f"{orphans} span(s) whose parent is not in the trace, among {roots} invoke_agent spans"


# --- tasks -----------------------------------------------------------------------------


def _task(
    root: Span,
    parts: _Parts,
    known_agents: Collection[str] | None,
    where: str,
    bad: list[BadSpan],
) -> Task | None:
    agent = _agent_name(root)
    if not agent or (known_agents is not None and agent not in known_agents):
        detail = f"span {root.span_id}: agent {quoted(agent)} is not declared in the repository"
        bad.append(BadSpan("unknown-agent", where, detail))
        return None
    attrs = root.attributes
    models = sorted(parts.models, key=_start_order)
    return Task(
        trace_id=root.trace_id,
        span_id=root.span_id,
        agent=agent,
        revision=_text(attrs, "gen_ai.agent.version"),
        environment=_environment(root),
        start_ns=root.start_ns,
        end_ns=root.end_ns,
        conversation_id=_text(attrs, "gen_ai.conversation.id"),
        error=_error(root),
        model_calls=tuple(_model_use(span) for span in models),
        tool_calls=tuple(_tool_use(span) for span in sorted(parts.tools, key=_start_order)),
        input_text=_texts(attrs, models[:1], "gen_ai.input.messages", "user"),
        output_text=_texts(attrs, models[-1:], "gen_ai.output.messages", "assistant"),
        **_labels([root, *sorted(parts.labels, key=_start_order)], where, bad),
    )


def _agent_name(root: Span) -> str:
    name = root.attributes.get("gen_ai.agent.name")
    if isinstance(name, str) and name:
        return name
    return root.name.removeprefix(AGENT_OPERATION).strip()


def _start_order(span: Span) -> tuple[int, str]:
    return span.start_ns, span.span_id


def _text(attributes: Any, key: str) -> str | None:
    value = attributes.get(key)
    return value if isinstance(value, str) else None


def _environment(root: Span) -> str | None:
    for key in _ENVIRONMENT:
        if value := _text(root.resource, key):
            return value
    return None


def _error(span: Span) -> str | None:
    """error.type, else the status message of an ERROR span ("error" when it has none)."""
    if value := _text(span.attributes, "error.type"):
        return value
    return (span.status_message or "error") if span.status_code == 2 else None


def _model_use(span: Span) -> ModelUse:
    attrs = span.attributes
    provider = _text(attrs, "gen_ai.provider.name") or _text(attrs, "gen_ai.system")
    model = _text(attrs, "gen_ai.response.model") or _text(attrs, "gen_ai.request.model")
    return ModelUse(
        span_id=span.span_id,
        provider=provider or "unknown",
        model=model or "unknown",
        input_tokens=attrs.get("gen_ai.usage.input_tokens") or 0,
        output_tokens=attrs.get("gen_ai.usage.output_tokens") or 0,
        cached_input_tokens=attrs.get("gen_ai.usage.cache_read.input_tokens") or 0,
        start_ns=span.start_ns,
        end_ns=span.end_ns,
    )


def _tool_use(span: Span) -> ToolUse:
    attrs = span.attributes
    return ToolUse(
        span_id=span.span_id,
        tool=_text(attrs, "gen_ai.tool.name") or span.name.removeprefix(TOOL_OPERATION).strip(),
        call_id=_text(attrs, "gen_ai.tool.call.id"),
        error=_error(span),
        arguments=json_or_raw(attrs.get("gen_ai.tool.call.arguments")),
        result=json_or_raw(attrs.get("gen_ai.tool.call.result")),
        start_ns=span.start_ns,
        end_ns=span.end_ns,
    )


# --- messages --------------------------------------------------------------------------


def _texts(attrs: Any, fallback: Sequence[Span], key: str, role: str) -> str | None:
    """The last text of `role` in the invoke_agent span's messages, else in those of its
    first (input) or last (output) model call, where some instrumentations put them."""
    for holder in (attrs, *(span.attributes for span in fallback)):
        if (found := last_text(holder.get(key), role)) is not None:
            return found
    return None


# --- labels ----------------------------------------------------------------------------


def _choice(*allowed: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(" or ".join(allowed))
        return value

    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


_LABELS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "alm.task.outcome": ("outcome", _choice("resolved", "escalated", "refused")),
    "alm.task.success": ("success", _boolean),
    "alm.feedback": ("feedback", _choice("positive", "negative")),
    "alm.escalation.expected": ("escalation_expected", _boolean),
}


def _labels(holders: Sequence[Span], where: str, bad: list[BadSpan]) -> dict[str, Any]:
    """The Task fields of the alm.* labels: the invoke_agent span's, then its alm.label
    spans' in start order (a later label wins); a bad value is reported and ignored."""
    found: dict[str, Any] = {}
    for span in holders:
        for key, (name, check) in _LABELS.items():
            if (value := span.attributes.get(key)) is None:
                continue
            try:
                found[name] = check(value)
            except ValueError as error:
                detail = f"span {span.span_id}: {key} {quoted(value)}: expected {error}"
                bad.append(BadSpan("wrong-type", where, detail))
    return found
