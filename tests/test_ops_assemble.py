"""Assembling tasks from spans recorded through the real SDK (reconciler.ops.tracegen),
read back through the OTLP reader; spans split across files and shuffled."""

from __future__ import annotations

import gzip
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import zstandard
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from reconciler.ops.assemble import assemble
from reconciler.ops.model import Span, Task
from reconciler.ops.otlp import read_files, read_lines
from reconciler.ops.tracegen import NS, ModelStep, Recorder, TaskSpec, ToolStep

START = 1_767_225_600 * NS
KNOWN = {"support", "billing", "researcher"}


def read(rec: Recorder, per_line: int = 512) -> list[Span]:
    items = list(read_lines(rec.lines(per_line), "t.jsonl"))
    assert all(isinstance(item, Span) for item in items), items
    return [item for item in items if isinstance(item, Span)]


def by_trace(spans: list[Span]) -> dict[str, list[Span]]:
    traces: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    return traces


def one_task(spans: list[Span], known: set[str] | None = KNOWN) -> Task:
    tasks, bad = assemble(spans, known)
    assert bad == [] and len(tasks) == 1, (tasks, bad)
    return tasks[0]


def span_id(span: Any) -> str:
    return format(span.get_span_context().span_id, "016x")


def test_a_recorded_task_is_assembled_with_everything_it_carries() -> None:
    rec = Recorder(environment="staging")
    tools = [
        ToolStep("lookup_order", arguments={"id": 7}, result={"status": "shipped"}),
        ToolStep("refund", error="PermissionDenied", arguments={"id": 7}),
    ]
    spec = TaskSpec(
        "support",
        "sha256:r1",
        START,
        tools=tools,
        model=ModelStep("gpt-4.1", "openai", 900, 50),
        input_text="Where is order 7?",
        output_text="It shipped.",
        outcome="resolved",
        success=True,
        feedback="positive",
        escalation_expected=False,
        conversation_id="c-1",
    )
    trace_id = rec.record(spec)
    task = one_task(read(rec))
    assert (task.trace_id, task.agent, task.revision) == (trace_id, "support", "sha256:r1")
    assert (task.environment, task.conversation_id, task.error) == ("staging", "c-1", None)
    assert [(t.tool, t.error, t.arguments, t.result) for t in task.tool_calls] == [
        ("lookup_order", None, {"id": 7}, {"status": "shipped"}),
        ("refund", "PermissionDenied", {"id": 7}, None),
    ]
    assert [(m.provider, m.model) for m in task.model_calls] == [("openai", "gpt-4.1")] * 3
    assert (task.usage.input_tokens, task.usage.output_tokens) == (2700, 150)
    assert (task.input_text, task.output_text) == ("Where is order 7?", "It shipped.")
    assert (task.outcome, task.success, task.feedback) == ("resolved", True, "positive")
    assert task.escalation_expected is False
    assert task.start_ns == START and task.latency_s > 2


def test_spans_split_across_two_files_and_shuffled_make_the_same_tasks(tmp_path: Path) -> None:
    rec = Recorder()
    for n in range(40):
        tools = [ToolStep("lookup", arguments={"n": n})] * (n % 3)
        rec.record(TaskSpec(["support", "billing"][n % 2], "sha256:r", START + n * NS, tools))
    in_order = {tid: assemble(spans, KNOWN) for tid, spans in by_trace(read(rec)).items()}
    lines = [json.dumps(_shuffled(json.loads(line))) + "\n" for line in rec.lines(7)]
    random.Random(4).shuffle(lines)
    half = len(lines) // 2
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_bytes(gzip.compress("".join(lines[:half]).encode()))
    second.write_bytes(zstandard.ZstdCompressor().compress("".join(lines[half:]).encode()))
    items = list(read_files([second, first]))
    assert all(isinstance(item, Span) for item in items)
    shuffled = by_trace([item for item in items if isinstance(item, Span)])
    assert len(shuffled) == 40
    assert {tid: assemble(spans, KNOWN) for tid, spans in shuffled.items()} == in_order


def _shuffled(export: dict[str, Any]) -> dict[str, Any]:
    for resource in export["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            random.Random(9).shuffle(scope["spans"])
    return export


def test_tool_and_model_calls_are_ordered_by_start_then_span_id() -> None:
    rec = Recorder()
    root = rec.tracer.start_span(
        "invoke_agent support",
        start_time=START,
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"},
    )
    inside = trace.set_span_in_context(root)
    made = []
    for tool, start in (("late", START + 5), ("b", START + 1), ("a", START + 1)):
        span = rec.tracer.start_span(
            f"execute_tool {tool}",
            context=inside,
            start_time=start,
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool},
        )
        span.end(end_time=start + 10)
        made.append((start, span_id(span), tool))
    root.end(end_time=START + 100)
    task = one_task(read(rec))
    assert [t.tool for t in task.tool_calls] == [tool for _, _, tool in sorted(made)]


def test_an_unknown_agent_is_reported_and_makes_no_task() -> None:
    rec = Recorder()
    trace_id = rec.record(TaskSpec("intruder", "sha256:r", START, tools=[ToolStep("t")]))
    tasks, bad = assemble(read(rec), KNOWN)
    assert tasks == []
    assert [(b.kind, b.where) for b in bad] == [("unknown-agent", f"trace {trace_id}")]
    assert "'intruder'" in bad[0].detail
    assert one_task(read(rec), known=None).agent == "intruder"  # no repository: all agents


def test_a_trace_without_its_invoke_agent_span_is_one_no_root() -> None:
    rec = Recorder()
    trace_id = rec.record(TaskSpec("support", "sha256:r", START, tools=[ToolStep("t")] * 2))
    children = [span for span in read(rec) if span.operation != "invoke_agent"]
    tasks, bad = assemble(children, KNOWN)
    assert tasks == []
    assert [(b.kind, b.where) for b in bad] == [("no-root", f"trace {trace_id}")]
    assert bad[0].detail.startswith("5 GenAI span(s)")
    root_id = next(s.span_id for s in read(rec) if s.operation == "invoke_agent")
    rec.clear()
    _label(rec, trace_id, root_id, START + NS, **{"alm.feedback": "negative"})
    assert [b.kind for b in assemble(read(rec), KNOWN)[1]] == ["no-root"]  # a label alone


def test_a_span_whose_parent_is_missing_goes_to_the_only_task() -> None:
    rec = Recorder()
    root = rec.tracer.start_span(
        "invoke_agent support",
        start_time=START,
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"},
    )
    step = rec.tracer.start_span("step", context=trace.set_span_in_context(root), start_time=START)
    tool = rec.tracer.start_span(
        "execute_tool t",
        context=trace.set_span_in_context(step),
        start_time=START + 1,
        attributes={"gen_ai.operation.name": "execute_tool"},
    )
    for span in (tool, step, root):
        span.end(end_time=START + 9)
    spans = [span for span in read(rec) if span.span_id != span_id(step)]  # "step" never came
    assert [t.tool for t in one_task(spans).tool_calls] == ["t"]  # the name gives the tool


def test_with_two_tasks_a_span_whose_parent_is_missing_is_no_root() -> None:
    rec = Recorder()
    top = rec.tracer.start_span("POST /chat", start_time=START)
    inside = trace.set_span_in_context(top)
    for agent in ("support", "billing"):
        rec.tracer.start_span(
            f"invoke_agent {agent}",
            context=inside,
            start_time=START,
            attributes={"gen_ai.operation.name": "invoke_agent"},
        ).end(end_time=START + 5)
    rec.tracer.start_span(
        "chat m", context=inside, start_time=START, attributes={"gen_ai.operation.name": "chat"}
    ).end(end_time=START + 5)
    top.end(end_time=START + 9)
    spans = read(rec)
    with_top = assemble(spans, KNOWN)
    assert (sorted(t.agent for t in with_top[0]), with_top[1]) == (["billing", "support"], [])
    ids = [t.span_id for t in with_top[0]]
    assert ids == sorted(ids)  # the same start: by span id
    tasks, bad = assemble([s for s in spans if s.span_id != span_id(top)], KNOWN)
    assert [t.model_calls for t in tasks] == [(), ()]
    assert [b.kind for b in bad] == ["no-root"] and "among 2 invoke_agent" in bad[0].detail


def test_nested_agents_each_own_their_calls() -> None:
    rec = Recorder()
    outer = rec.tracer.start_span(
        "invoke_agent support",
        start_time=START,
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"},
    )
    delegate = _tool(rec, outer, "ask_researcher", START + 1)
    inner = rec.tracer.start_span(
        "invoke_agent researcher",
        start_time=START + 2,
        context=trace.set_span_in_context(delegate),
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "researcher"},
    )
    _tool(rec, inner, "web_search", START + 3).end(end_time=START + 4)
    for span in (inner, delegate, outer):
        span.end(end_time=START + 9)
    tasks, bad = assemble(read(rec), KNOWN)
    assert bad == []
    assert {t.agent: [c.tool for c in t.tool_calls] for t in tasks} == {
        "support": ["ask_researcher"],
        "researcher": ["web_search"],
    }
    assert [t.agent for t in tasks] == ["support", "researcher"]  # by start


def _tool(rec: Recorder, parent: Any, name: str, start: int) -> Any:
    attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
    context = trace.set_span_in_context(parent)
    return rec.tracer.start_span(
        f"execute_tool {name}", context, start_time=start, attributes=attributes
    )


def _label(rec: Recorder, trace_id: str, root_id: str, at: int, **labels: Any) -> None:
    """An alm.label span sent after the task, as a child of its invoke_agent span."""
    sampled = trace.TraceFlags(trace.TraceFlags.SAMPLED)
    parent = trace.SpanContext(int(trace_id, 16), int(root_id, 16), True, sampled)
    context = trace.set_span_in_context(trace.NonRecordingSpan(parent))
    rec.tracer.start_span("alm.label", context, start_time=at, attributes=labels).end(at + 1)


def test_a_late_label_applies_to_its_task_and_a_later_one_wins(tmp_path: Path) -> None:
    rec = Recorder()
    trace_id = rec.record(TaskSpec("support", "sha256:r", START, feedback="positive"))
    root_id = next(span_id(s) for s in rec.spans() if s.name.startswith("invoke_agent"))
    first = rec.write(tmp_path / "day1.jsonl")
    rec.clear()
    _label(rec, trace_id, root_id, START + 60 * NS, **{"alm.feedback": "negative"})
    _label(rec, trace_id, root_id, START + 90 * NS, **{"alm.task.success": False})
    second = rec.write(tmp_path / "day2.jsonl")
    spans = [item for item in read_files([first, second]) if isinstance(item, Span)]
    task = one_task(spans)
    assert (task.feedback, task.success) == ("negative", False)


def test_an_invalid_label_is_reported_and_ignored_and_the_task_kept() -> None:
    rec = Recorder()
    trace_id = rec.record(TaskSpec("support", "sha256:r", START, outcome="resolved"))
    root_id = next(span_id(s) for s in rec.spans() if s.name.startswith("invoke_agent"))
    labels = {"alm.task.outcome": "maybe", "alm.task.success": "yes", "alm.feedback": "positive"}
    _label(rec, trace_id, root_id, START + NS, **labels)
    tasks, bad = assemble(read(rec), KNOWN)
    assert assemble(read(rec)[::-1], KNOWN) == (tasks, bad)  # the same, in the same order
    assert [(t.outcome, t.success, t.feedback) for t in tasks] == [("resolved", None, "positive")]
    assert [(b.kind, b.where) for b in bad] == [("wrong-type", f"trace {trace_id}")] * 2
    assert "'maybe': expected resolved or escalated or refused" in bad[0].detail


def test_fallbacks_provider_model_error_environment_and_older_messages() -> None:
    rec = Recorder()
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    root = rec.tracer.start_span(
        "invoke_agent support",
        start_time=START,
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support",
            "gen_ai.input.messages": json.dumps(messages),
        },
    )
    chat = rec.tracer.start_span(
        "chat",
        trace.set_span_in_context(root),
        start_time=START + 1,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-x",
            "gen_ai.usage.cache_read.input_tokens": 40,
            "gen_ai.output.messages": json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [
                            {"type": "text", "content": "Hello"},
                            {"type": "tool_call", "name": "t"},
                            {"type": "text", "content": "there"},
                        ],
                    }
                ]
            ),
        },
    )
    chat.end(end_time=START + 2)
    tool = _tool(rec, root, "t", START + 3)
    tool.set_status(Status(StatusCode.ERROR, "backend down"))
    tool.set_attribute("gen_ai.tool.call.arguments", "not json {")
    tool.end(end_time=START + 4)
    root.set_status(Status(StatusCode.ERROR))
    root.end(end_time=START + 5)
    spans = [s._replace(resource={"deployment.environment": "qa"}) for s in read(rec)]
    task = one_task(spans)
    assert [(m.provider, m.model, m.cached_input_tokens) for m in task.model_calls] == [
        ("anthropic", "claude-x", 40)
    ]
    assert [(t.error, t.arguments) for t in task.tool_calls] == [("backend down", "not json {")]
    assert (task.error, task.environment) == ("error", "qa")
    assert (task.input_text, task.output_text) == ("Hi?", "Hello\nthere")


def test_spans_from_other_sources_have_their_genai_types_checked() -> None:
    """ClickHouse keeps attributes as strings: counts in decimal are read, others are not."""
    rec = Recorder()
    trace_id = rec.record(TaskSpec("support", "sha256:r", START, tools=[ToolStep("t")]))
    spans = read(rec)
    chats = [s for s in spans if s.operation == "chat"]
    as_text = {k: str(v) for k, v in chats[0].attributes.items()}
    broken = {**chats[1].attributes, "gen_ai.usage.input_tokens": "lots"}
    spans = [s for s in spans if s not in chats]
    spans += [chats[0]._replace(attributes=as_text), chats[1]._replace(attributes=broken)]
    tasks, bad = assemble(spans, KNOWN)
    assert [m.input_tokens for t in tasks for m in t.model_calls] == [800]
    assert [(b.kind, b.where) for b in bad] == [("wrong-type", f"trace {trace_id}")]
    assert "gen_ai.usage.input_tokens 'lots'" in bad[0].detail


def test_a_duplicate_span_counts_once_and_an_empty_trace_is_nothing() -> None:
    rec = Recorder()
    rec.record(TaskSpec("support", "sha256:r", START, tools=[ToolStep("t")]))
    spans = read(rec)
    assert len(one_task(spans + spans).tool_calls) == 1
    assert assemble([], KNOWN) == ([], [])


def test_a_parent_cycle_does_not_hang_and_belongs_to_no_task() -> None:
    rec = Recorder()
    rec.record(TaskSpec("support", "sha256:r", START, tools=[ToolStep("t")]))
    spans = read(rec)
    tool = next(s for s in spans if s.operation == "execute_tool")
    looped = [s._replace(parent_span_id=s.span_id) if s is tool else s for s in spans]
    assert one_task(looped).tool_calls == ()


JUNK: list[Any] = [None, -1, "", "x", "[1]", '[{"role": "user", "parts": 3}]', [], {}, True, 2.5]


def test_any_attribute_value_assembles_or_is_reported_never_raises() -> None:
    rec = Recorder()
    spec = TaskSpec("support", "sha256:r", START, tools=[ToolStep("t", arguments={"a": 1})],
        input_text="hi", output_text="ok", outcome="resolved", success=True)  # fmt: skip
    rec.record(spec)
    spans = read(rec)
    rng = random.Random(5)
    kinds = set()
    for _ in range(300):
        changed = []
        for span in spans:
            attributes = dict(span.attributes)
            for key in rng.sample(sorted(attributes), k=min(2, len(attributes))):
                attributes[key] = rng.choice(JUNK)
            changed.append(span._replace(attributes=attributes))
        tasks, bad = assemble(changed, KNOWN)
        kinds |= {b.kind for b in bad}
        assert all(task.agent in KNOWN for task in tasks)
    assert kinds <= {"wrong-type", "unknown-agent", "no-root"} and "wrong-type" in kinds
