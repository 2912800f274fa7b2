"""Tasks for the report's tests, as the assembler makes them (reconciler.ops.model.Task):
plain data with the fields the economics read, one chat call per step by default."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.ops.model import NS_PER_S, ModelUse, Task, ToolUse

DAY0_NS = 1_764_460_800 * NS_PER_S  # 2025-11-30T00:00:00Z


def make_task(
    number: int,
    agent: str,
    revision: str | None = "sha256:" + "a" * 64,
    *,
    start_s: float = 0.0,
    tools: Sequence[str | tuple[str, str]] = (),
    model: str = "gpt-4.1-mini",
    provider: str = "openai",
    tokens: tuple[int, int] = (800, 120),
    extra_calls: int = 0,
) -> Task:
    """Task `number` of `agent`, starting `start_s` after DAY0: a model call before each
    tool (a (tool, error) pair is a failed call) and one after them, plus `extra_calls`
    model calls in the last step (re-asks)."""
    start = DAY0_NS + int(start_s * NS_PER_S)
    now = start + 1_000_000
    models: list[ModelUse] = []
    calls: list[ToolUse] = []

    def chat() -> None:
        nonlocal now
        span = f"{len(models) + len(calls) + 1:016x}"
        models.append(ModelUse(span, provider, model, *tokens, start_ns=now, end_ns=now + 10))
        now += 100

    for tool in tools:
        chat()
        name, error = (tool, None) if isinstance(tool, str) else tool
        span = f"{len(models) + len(calls) + 1:016x}"
        calls.append(ToolUse(span, name, error=error, start_ns=now, end_ns=now + 10))
        now += 100
    for _ in range(1 + extra_calls):
        chat()
    return Task(
        trace_id=f"{number:032x}",
        span_id=f"{number:016x}",
        agent=agent,
        revision=revision,
        environment="prod",
        start_ns=start,
        end_ns=now,
        model_calls=tuple(models),
        tool_calls=tuple(calls),
    )
