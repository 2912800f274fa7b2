"""Spans made by a real instrumentation library, not by alm: the official openai client,
instrumented by opentelemetry-instrumentation-openai-v2, talking to the local
OpenAI-compatible server inside an `invoke_agent` span opened as an agent runtime would,
exported through the SDK's in-memory exporter and alm's OTLP JSON encoder, then read and
assembled by alm: the chat spans' model and token usage become the task's ModelUse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from reconciler.ops.assemble import assemble
from reconciler.ops.model import Span
from reconciler.ops.otlp import read_lines
from reconciler.ops.otlp_json import export_line
from tests.openai_server import OpenAIServer

AGENT = "support-triage"
REVISION = "sha256:" + "ab" * 32
MODEL = "gpt-4.1-mini"
STEPS = [
    {"tool_calls": [{"name": "ticketing.get_ticket", "arguments": {"ticket_id": "TCK-48213"}}]},
    {"content": "Routed TCK-48213 to tech at high priority."},
]


@dataclass
class Runtime:
    provider: TracerProvider
    exporter: InMemorySpanExporter


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    exporter = InMemorySpanExporter()
    resource = Resource.create({"service.name": "runtime", "deployment.environment.name": "prod"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield Runtime(provider, exporter)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


def run_agent(runtime: Runtime, base_url: str) -> list[openai.types.CompletionUsage]:
    """One task as a runtime would run it: the model asks for a tool, the runtime calls it
    (its own execute_tool span), the model answers."""
    tracer = runtime.provider.get_tracer("agent-runtime")
    usages = []
    messages: list[dict[str, object]] = [{"role": "user", "content": "Triage TCK-48213."}]
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": AGENT,
        "gen_ai.agent.version": REVISION,
    }
    with (
        openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as client,
        tracer.start_as_current_span(f"invoke_agent {AGENT}", attributes=attributes),
    ):
        for _ in STEPS:
            reply = client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
            assert reply.usage is not None
            usages.append(reply.usage)
            message = reply.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls or []:
                with tracer.start_as_current_span(f"execute_tool {call.function.name}") as span:
                    span.set_attributes(
                        {
                            "gen_ai.operation.name": "execute_tool",
                            "gen_ai.tool.name": call.function.name,
                            "gen_ai.tool.call.id": call.id,
                            "error.type": "timeout",
                        }
                    )
                    span.set_status(Status(StatusCode.ERROR, "timeout"))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": "{}"})
    return usages


def chat_spans(spans: tuple[ReadableSpan, ...]) -> list[ReadableSpan]:
    return [s for s in spans if (s.attributes or {}).get("gen_ai.operation.name") == "chat"]


def test_the_instrumentations_chat_spans_become_the_tasks_model_use(runtime) -> None:
    with OpenAIServer(STEPS) as server:
        usages = run_agent(runtime, server.base_url)
    spans = runtime.exporter.get_finished_spans()
    line = export_line(spans)
    read = list(read_lines([line.encode()], "instrumented.jsonl"))
    assert all(isinstance(s, Span) for s in read), read
    tasks, bad = assemble([s for s in read if isinstance(s, Span)], [AGENT])
    assert bad == []
    (task,) = tasks
    assert (task.agent, task.revision, task.environment) == (AGENT, REVISION, "prod")
    assert [(m.provider, m.model) for m in task.model_calls] == [("openai", MODEL)] * 2
    assert [(m.input_tokens, m.output_tokens) for m in task.model_calls] == [
        (u.prompt_tokens, u.completion_tokens) for u in usages
    ]
    assert task.usage.input_tokens == sum(u.prompt_tokens for u in usages) > 0
    (tool,) = task.tool_calls
    assert (tool.tool, tool.error) == ("ticketing.get_ticket", "timeout")
    assert tool.call_id == "call_0_0"


def test_what_this_instrumentation_version_emits(runtime) -> None:
    """The attributes docs/traces.md relies on, as opentelemetry-instrumentation-openai-v2
    writes them: a change here is a change to document (and to read)."""
    with OpenAIServer(STEPS) as server:
        run_agent(runtime, server.base_url)
    chats = chat_spans(runtime.exporter.get_finished_spans())
    assert len(chats) == 2
    for span in chats:
        attributes = dict(span.attributes or {})
        assert span.name == f"chat {MODEL}"
        assert span.kind == trace.SpanKind.CLIENT
        assert attributes["gen_ai.provider.name"] == "openai"
        assert "gen_ai.system" not in attributes  # the older name, no longer written
        assert attributes["gen_ai.request.model"] == attributes["gen_ai.response.model"] == MODEL
        assert isinstance(attributes["gen_ai.usage.input_tokens"], int)
        assert isinstance(attributes["gen_ai.usage.output_tokens"], int)
        assert span.parent is not None  # under the runtime's invoke_agent span
    exported = json.loads(export_line(chats))
    keys = {
        a["key"]
        for r in exported["resourceSpans"]
        for s in r["scopeSpans"]
        for span in s["spans"]
        for a in span["attributes"]
    }
    assert "gen_ai.usage.input_tokens" in keys
