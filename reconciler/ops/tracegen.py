"""Recording agent tasks as real OpenTelemetry SDK spans, with the GenAI attributes alm
reads (docs/traces.md), and writing them as the Collector's file exporter would.

The building block of `alm ops simulate`, the benchmarks and the tests: every trace alm
is tested on went through the SDK (TracerProvider, spans with explicit times, the
in-memory exporter) and its OTLP encoder (reconciler.ops.otlp_json).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Status, StatusCode

from reconciler.ops.otlp_json import export_line

NS = 1_000_000_000


@dataclass(frozen=True)
class ToolStep:
    tool: str
    error: str | None = None  # error.type when the call failed
    arguments: dict[str, Any] | None = None
    result: Any = None
    duration_s: float = 0.2


@dataclass(frozen=True)
class ModelStep:
    model: str = "gpt-4.1-mini"
    provider: str = "openai"
    input_tokens: int = 800
    output_tokens: int = 120
    duration_s: float = 0.8


@dataclass(frozen=True)
class TaskSpec:
    """One agent run to record: a chat span before each tool call and one after them."""

    agent: str
    revision: str
    start_ns: int
    tools: Sequence[ToolStep] = ()
    model: ModelStep = field(default_factory=ModelStep)
    input_text: str | None = None
    output_text: str | None = None
    outcome: str | None = None  # alm.task.outcome
    success: bool | None = None  # alm.task.success
    feedback: str | None = None  # alm.feedback
    escalation_expected: bool | None = None
    error: str | None = None  # the invoke_agent span failed with this error.type
    conversation_id: str | None = None


class Recorder:
    """A TracerProvider for one environment whose finished spans are kept in memory."""

    def __init__(
        self,
        environment: str = "prod",
        service: str = "agent-runtime",
        id_generator: IdGenerator | None = None,  # a seeded one makes the ids repeatable
    ) -> None:
        self.exporter = InMemorySpanExporter()
        resource = Resource.create(
            {"service.name": service, "deployment.environment.name": environment}
        )
        self.provider = TracerProvider(resource=resource, id_generator=id_generator)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("alm.tracegen")

    def record(self, spec: TaskSpec) -> str:
        """Record one task; its trace id (32 hex digits)."""
        root = self.tracer.start_span(
            f"invoke_agent {spec.agent}", start_time=spec.start_ns, attributes=_root_attrs(spec)
        )
        inside = trace.set_span_in_context(root)
        now = spec.start_ns + 10_000_000
        for tool in spec.tools:
            now = self._chat(spec.model, now, inside)
            now = self._tool(tool, now, inside)
        now = self._chat(spec.model, now, inside)
        if spec.error is not None:
            root.set_attribute("error.type", spec.error)
            root.set_status(Status(StatusCode.ERROR, spec.error))
        root.end(end_time=now + 5_000_000)
        return format(root.get_span_context().trace_id, "032x")

    def _chat(self, model: ModelStep, start: int, parent: Any) -> int:
        span = self.tracer.start_span(
            f"chat {model.model}",
            context=parent,
            start_time=start,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": model.provider,
                "gen_ai.request.model": model.model,
                "gen_ai.response.model": model.model,
                "gen_ai.usage.input_tokens": model.input_tokens,
                "gen_ai.usage.output_tokens": model.output_tokens,
            },
        )
        end = start + int(model.duration_s * NS)
        span.end(end_time=end)
        return end

    def _tool(self, tool: ToolStep, start: int, parent: Any) -> int:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool.tool,
            "gen_ai.tool.call.id": f"call_{start:x}",
        }
        if tool.arguments is not None:
            attributes["gen_ai.tool.call.arguments"] = json.dumps(tool.arguments)
        if tool.result is not None:
            attributes["gen_ai.tool.call.result"] = json.dumps(tool.result)
        span = self.tracer.start_span(
            f"execute_tool {tool.tool}", context=parent, start_time=start, attributes=attributes
        )
        if tool.error is not None:
            span.set_attribute("error.type", tool.error)
            span.set_status(Status(StatusCode.ERROR, tool.error))
        end = start + int(tool.duration_s * NS)
        span.end(end_time=end)
        return end

    def spans(self) -> tuple[ReadableSpan, ...]:
        return tuple(self.exporter.get_finished_spans())

    def clear(self) -> None:
        self.exporter.clear()

    def lines(self, spans_per_line: int = 512) -> Iterator[str]:
        """The finished spans as OTLP JSON lines, `spans_per_line` spans a line (the
        Collector writes one line per batch), in finishing order."""
        spans = self.spans()
        for at in range(0, len(spans), spans_per_line):
            yield export_line(spans[at : at + spans_per_line])

    def write(self, path: Path, spans_per_line: int = 512) -> Path:
        """Write the finished spans to `path` (gzip when it ends in .gz)."""
        data = "".join(line + "\n" for line in self.lines(spans_per_line)).encode()
        path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
        return path


def _root_attrs(spec: TaskSpec) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": spec.agent,
        "gen_ai.agent.version": spec.revision,
    }
    optional: dict[str, Any] = {
        "gen_ai.conversation.id": spec.conversation_id,
        "alm.task.outcome": spec.outcome,
        "alm.task.success": spec.success,
        "alm.feedback": spec.feedback,
        "alm.escalation.expected": spec.escalation_expected,
    }
    attrs.update({k: v for k, v in optional.items() if v is not None})
    if spec.input_text is not None:
        message = {"role": "user", "parts": [{"type": "text", "content": spec.input_text}]}
        attrs["gen_ai.input.messages"] = json.dumps([message])
    if spec.output_text is not None:
        message = {"role": "assistant", "parts": [{"type": "text", "content": spec.output_text}]}
        attrs["gen_ai.output.messages"] = json.dumps([message])
    return attrs
