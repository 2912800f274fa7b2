"""Finished OpenTelemetry SDK spans as OTLP JSON lines, as the Collector's file exporter
writes them: the SDK's own OTLP encoder (opentelemetry-exporter-otlp-proto-common) makes
the protobuf request, protobuf's JSON mapping makes the JSON, and the ids are turned from
protobuf's base64 into the hex OTLP/JSON specifies; enums are integers, int64 strings.

Used by `alm ops simulate`, the benchmarks and the tests: traces alm reads are never
hand-written JSON.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _hex(value: str) -> str:
    return base64.b64decode(value).hex()


def _fix_ids(span: dict[str, Any]) -> None:
    for key in _ID_FIELDS:
        if span.get(key):
            span[key] = _hex(span[key])
    for link in span.get("links", []):
        for key in ("traceId", "spanId"):
            if link.get(key):
                link[key] = _hex(link[key])


def export_dict(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """One ExportTraceServiceRequest as OTLP/JSON (a dict)."""
    request: dict[str, Any] = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in request.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                _fix_ids(span)
    return request


def export_line(spans: Sequence[ReadableSpan]) -> str:
    """One JSON Lines line (no newline) holding `spans`, as one file-exporter write."""
    return json.dumps(export_dict(spans), separators=(",", ":"))
