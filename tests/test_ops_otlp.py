"""Reading OTLP JSON lines made by the real SDK (reconciler.ops.tracegen), plain, gzip,
zstd and from stdin; malformed input made by corrupting SDK-made lines."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import zstandard

from reconciler.ops import otlp
from reconciler.ops.model import BAD_KINDS, BadSpan, Span
from reconciler.ops.otlp_values import MAX_ATTRIBUTE
from reconciler.ops.tracegen import NS, Recorder, TaskSpec, ToolStep

START = 1_767_225_600 * NS


def recorder(tasks: int = 3) -> Recorder:
    rec = Recorder(environment="prod")
    for n in range(tasks):
        tools = [ToolStep("lookup", arguments={"id": n}, result={"ok": True})]
        rec.record(TaskSpec("support", "sha256:abc", START + n * NS, tools=tools, success=True))
    return rec


def spans_of(items: list[Span | BadSpan]) -> list[Span]:
    assert all(isinstance(item, Span) for item in items), items
    return [item for item in items if isinstance(item, Span)]


def corrupt(line: str, change: Any) -> str:
    """An SDK-made line with `change(first span dict)` applied."""
    export = json.loads(line)
    change(export["resourceSpans"][0]["scopeSpans"][0]["spans"][0])
    return json.dumps(export)


def attr(span: dict[str, Any], key: str) -> dict[str, Any]:
    return next(item for item in span["attributes"] if item["key"] == key)


def test_spans_read_back_as_the_sdk_recorded_them() -> None:
    rec = recorder()
    spans = spans_of(list(otlp.read_lines(rec.lines(spans_per_line=4), "t.jsonl")))
    sdk = {format(s.get_span_context().span_id, "016x"): s for s in rec.spans()}
    assert len(spans) == len(sdk) == 12
    for span in spans:
        made = sdk[span.span_id]
        assert span.trace_id == format(made.get_span_context().trace_id, "032x")
        assert (span.name, span.start_ns, span.end_ns) == (
            made.name,
            made.start_time,
            made.end_time,
        )
        assert dict(span.attributes) == dict(made.attributes or {})
        assert span.resource["deployment.environment.name"] == "prod"
    chat = next(s for s in spans if s.operation == "chat")
    assert chat.attributes["gen_ai.usage.input_tokens"] == 800
    # one decoded resource dict per resource of a line, shared by its spans
    assert spans[0].resource is spans[1].resource


@pytest.mark.parametrize("codec", ["plain", "gzip", "zstd"])
def test_files_are_read_by_magic_bytes_not_by_name(tmp_path: Path, codec: str) -> None:
    rec = recorder()
    data = "".join(line + "\n" for line in rec.lines(spans_per_line=5)).encode()
    if codec == "gzip":
        data = gzip.compress(data[:1000]) + gzip.compress(data[1000:])  # two members
    elif codec == "zstd":
        zstd = zstandard.ZstdCompressor()
        data = zstd.compress(data[:1000]) + zstd.compress(data[1000:])  # two frames
    path = tmp_path / "traces.log"
    path.write_bytes(data)
    spans = spans_of(list(otlp.read_files([path])))
    assert len(spans) == 12
    assert {s.trace_id for s in spans} == {
        format(s.get_span_context().trace_id, "032x") for s in rec.spans()
    }


def test_stdin_is_read_as_bytes_in_a_real_process() -> None:
    data = gzip.compress("".join(line + "\n" for line in recorder().lines()).encode())
    code = (
        "from reconciler.ops.otlp import read_files\n"
        "items = list(read_files(['-']))\n"
        "print(len(items), {type(i).__name__ for i in items})"
    )
    done = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, check=True)
    assert done.stdout.decode().strip() == "12 {'Span'}"


def test_an_iterable_of_text_lines_reads_like_a_file() -> None:
    lines = ["", "  \n", *recorder().lines(spans_per_line=3)]
    spans = spans_of(list(otlp.read_lines(iter(lines), "<stdin>")))
    assert len(spans) == 12


def test_upper_case_ids_are_normalised_to_lower_case() -> None:
    def upper(span: dict[str, Any]) -> None:
        for key in ("traceId", "spanId", "parentSpanId"):
            span[key] = span[key].upper()

    line = next(recorder(1).lines())
    first = spans_of(list(otlp.read_lines([corrupt(line, upper)], "t")))[0]
    plain = spans_of(list(otlp.read_lines([line], "t")))[0]
    assert (first.trace_id, first.span_id, first.parent_span_id) == (
        plain.trace_id,
        plain.span_id,
        plain.parent_span_id,
    )


def test_every_any_value_kind_is_decoded() -> None:
    def values(span: dict[str, Any]) -> None:
        span["attributes"] = [
            {"key": "s", "value": {"stringValue": "x"}},
            {"key": "i", "value": {"intValue": 7}},
            {"key": "d", "value": {"doubleValue": "Infinity"}},
            {"key": "b", "value": {"boolValue": False}},
            {"key": "y", "value": {"bytesValue": "aGk="}},
            {"key": "e", "value": {}},
            {
                "key": "kv",
                "value": {
                    "kvlistValue": {
                        "values": [
                            {"key": "a", "value": {"arrayValue": {"values": [{"intValue": "-3"}]}}},
                        ]
                    }
                },
            },
        ]
        span["status"] = {"code": "STATUS_CODE_ERROR", "message": "boom"}

    line = corrupt(next(recorder(1).lines()), values)
    span = spans_of(list(otlp.read_lines([line], "t")))[0]
    assert dict(span.attributes) == {
        "s": "x",
        "i": 7,
        "d": float("inf"),
        "b": False,
        "y": "aGk=",
        "e": None,
        "kv": {"a": [-3]},
    }
    assert (span.status_code, span.status_message) == (2, "boom")


def test_a_line_msgspec_refuses_is_read_as_json_loads_reads_it() -> None:
    """msgspec parses lines; JSON it refuses (a bare NaN number, as json.dumps writes
    one) is read by json.loads, with the same result as before."""

    def nan(span: dict[str, Any]) -> None:
        span["attributes"] = [{"key": "d", "value": {"doubleValue": float("nan")}}]

    line = corrupt(next(recorder(1).lines()), nan)
    assert "NaN" in line
    (span, *rest) = spans_of(list(otlp.read_lines([line], "t")))
    assert rest and span.attributes["d"] != span.attributes["d"]  # NaN


def test_recorded_errors_and_label_events_are_read() -> None:
    rec = Recorder()
    rec.record(TaskSpec("support", "sha256:abc", START, tools=[ToolStep("t", error="Timeout")]))
    root = rec.tracer.start_span("invoke_agent support", start_time=START)
    root.add_event("alm.label", {"alm.feedback": "negative", "other": 1}, timestamp=START + 1)
    root.end(end_time=START + 2)
    spans = spans_of(list(otlp.read_lines(rec.lines(), "t")))
    tool = next(s for s in spans if s.operation == "execute_tool")
    assert (tool.status_code, tool.status_message) == (2, "Timeout")
    labelled = next(
        s for s in spans if s.span_id == format(root.get_span_context().span_id, "016x")
    )
    assert dict(labelled.attributes) == {"alm.feedback": "negative"}


BREAKAGES: list[tuple[str, Any]] = [
    ("missing-id", lambda s: s.pop("spanId")),
    ("missing-id", lambda s: s.update(traceId="")),
    ("bad-id", lambda s: s.update(spanId="xyz")),
    ("bad-id", lambda s: s.update(traceId="0" * 32)),
    ("bad-id", lambda s: s.update(parentSpanId="12")),
    ("bad-time", lambda s: s.pop("startTimeUnixNano")),
    ("bad-time", lambda s: s.update(endTimeUnixNano="1")),
    ("bad-time", lambda s: s.update(startTimeUnixNano="1.5e18")),
    (
        "wrong-type",
        lambda s: attr(s, "gen_ai.usage.input_tokens").update(value={"stringValue": "lots"}),
    ),
    ("wrong-type", lambda s: attr(s, "gen_ai.request.model").update(value={"intValue": "4"})),
    (
        "wrong-type",
        lambda s: attr(s, "gen_ai.usage.output_tokens").update(value={"intValue": "-1"}),
    ),
    ("wrong-type", lambda s: s.update(attributes={"a": 1})),
    ("wrong-type", lambda s: s["attributes"].append({"key": "k", "value": {"mystery": 1}})),
    ("wrong-type", lambda s: s["attributes"].append({"key": "k", "value": {"intValue": "1x"}})),
    ("wrong-type", lambda s: s["attributes"].append({"key": "k", "value": {"bytesValue": "!"}})),
    ("wrong-type", lambda s: s.update(status={"code": 9})),
    ("wrong-type", lambda s: s.update(name=["chat"])),
    (
        "wrong-type",
        lambda s: s["attributes"].append({"key": "k", "value": {"intValue": "9" * 5000}}),
    ),
    ("wrong-type", lambda s: s["attributes"].append({"key": "k" * 2000, "value": {}})),
    ("bad-time", lambda s: s.update(endTimeUnixNano="9" * 5000)),
    ("too-large", lambda s: s.update(name="n" * (MAX_ATTRIBUTE + 1))),
    (
        "too-large",
        lambda s: s.update(status={"code": 2, "message": "m" * (MAX_ATTRIBUTE + 1)}),
    ),
    (
        "too-large",
        lambda s: s["attributes"].append(
            {"key": "big", "value": {"stringValue": "x" * (MAX_ATTRIBUTE + 1)}}
        ),
    ),
    (
        "bad-json",
        lambda s: s["attributes"].append({"key": "k", "value": {"stringValue": "\ud800"}}),
    ),
]


@pytest.mark.parametrize(("kind", "change"), BREAKAGES)
def test_a_broken_span_is_a_bad_span_and_its_neighbours_are_kept(kind: str, change: Any) -> None:
    line = next(recorder(1).lines())
    items = list(otlp.read_lines([line, corrupt(line, change)], "traces.jsonl"))
    bad = [item for item in items if isinstance(item, BadSpan)]
    assert [(b.kind, b.where) for b in bad] == [(kind, "traces.jsonl:2")]
    assert kind in BAD_KINDS and len(bad[0].detail) < 300
    assert sum(isinstance(item, Span) for item in items) == 4 + 3


def test_utf8_encoded_surrogates_are_not_text() -> None:
    line = next(recorder(1).lines()).replace("gpt-4.1-mini", "SURROGATE", 1).encode()
    items = list(otlp.read_lines([line.replace(b"SURROGATE", b"\xed\xa0\x80")], "t"))
    assert [(b.kind, b.where) for b in items if isinstance(b, BadSpan)] == [("bad-json", "t:1")]


def test_broken_lines_are_counted_with_their_location(tmp_path: Path) -> None:
    good = next(recorder(1).lines())
    lines = [good, "{not json", "[1, 2]", '{"resourceSpans": {}}', "[" * 100_000, good]
    lines.append(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": 3}]}]}))
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    items = list(otlp.read_files([path]))
    bad = [(b.kind, b.where.removeprefix(f"{path}:")) for b in items if isinstance(b, BadSpan)]
    assert bad == [
        ("bad-json", "2"),
        ("not-otlp", "3"),
        ("not-otlp", "4"),
        ("bad-json", "5"),
        ("not-otlp", "7"),
    ]
    assert Counter(type(i).__name__ for i in items)["Span"] == 8


def test_a_line_over_the_limit_is_refused_and_skipped(tmp_path: Path) -> None:
    good = next(recorder(1).lines()).encode()
    path = tmp_path / "big.jsonl"
    long = b'{"resourceSpans":["' + b"x" * 5000 + b'"]}\n'
    path.write_bytes(good + b"\n" + long + good + b"\n")
    lines = list(otlp.open_trace_file(path, max_line=4096))
    assert [type(line) for line in lines] == [bytes, otlp.LongLine, bytes]
    marker = lines[1]
    assert isinstance(marker, otlp.LongLine) and len(marker) <= otlp.DETAIL
    assert marker.size == len(long) == 5023
    items = list(otlp.read_lines(lines, "big.jsonl", max_line=4096))
    bad = [item for item in items if isinstance(item, BadSpan)]
    assert [(b.kind, b.where) for b in bad] == [("too-large", "big.jsonl:2")]
    assert "5,023 bytes" in bad[0].detail


def test_a_70_mb_line_is_refused_at_the_default_limit(tmp_path: Path) -> None:
    good = next(recorder(1).lines()).encode()
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as out:
        out.write(good + b"\n" + b"x" * 70_000_000 + b"\n" + good + b"\n")
    items = list(otlp.read_files([path]))
    bad = [item for item in items if isinstance(item, BadSpan)]
    assert [(b.kind, b.where) for b in bad] == [("too-large", f"{path}:2")]
    assert sum(isinstance(item, Span) for item in items) == 8


def test_a_truncated_compressed_file_names_the_file(tmp_path: Path) -> None:
    data = gzip.compress("".join(line + "\n" for line in recorder(30).lines(4)).encode())
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(otlp.TraceFileError, match=r"cut\.gz: cannot read after line \d+"):
        list(otlp.read_files([path]))


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(otlp.TraceFileError, match=r"nope\.jsonl: cannot read"):
        list(otlp.open_trace_file(tmp_path / "nope.jsonl"))


JUNK: list[Any] = [None, 0, -1, "", "x", "9" * 30, [], {}, True, 1.5, [{}], {"stringValue": 1}]


def _nodes(value: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every value inside `value`."""
    found: list[tuple[Any, Any]] = []
    keys = value.keys() if isinstance(value, dict) else range(len(value))
    for key in keys:
        found.append((value, key))
        if isinstance(value[key], dict | list):
            found.extend(_nodes(value[key]))
    return found


def test_any_corruption_of_an_sdk_line_is_a_bad_span_never_an_exception() -> None:
    line = next(recorder(2).lines())
    rng = random.Random(12)
    kinds: Counter[str] = Counter()
    for _ in range(400):
        export = json.loads(line)
        for _ in range(rng.randint(1, 3)):
            container, key = rng.choice(_nodes(export))
            container[key] = rng.choice(JUNK)
        for item in otlp.read_lines([json.dumps(export)], "fuzz"):
            assert isinstance(item, Span) or item.kind in BAD_KINDS
            kinds[item.kind if isinstance(item, BadSpan) else "span"] += 1
    assert {"span", "not-otlp", "bad-id", "bad-time", "wrong-type"} <= set(kinds)
