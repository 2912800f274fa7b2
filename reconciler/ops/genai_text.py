"""Text out of GenAI attributes: JSON-valued attributes decoded (kept raw when they are
not JSON), and the last text of a role in gen_ai.input.messages / gen_ai.output.messages,
in the v1.37 shape ({role, parts: [{type: text, content}]}) or the older one ({role,
content}, content a string or a list of {type: text, text})."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import msgspec

from reconciler.ops.otlp_values import MAX_ATTRIBUTE

_decode = msgspec.json.Decoder().decode  # json.loads' values, faster; json.loads for the rest


def json_or_raw(value: Any) -> Any:
    """JSON text decoded; anything else (or text that is not JSON) kept, bounded."""
    if not isinstance(value, str):
        return value
    value = value[:MAX_ATTRIBUTE]
    try:
        return _decode(value)
    except RecursionError:
        return value
    except msgspec.DecodeError:
        pass
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value


def last_text(value: Any, role: str) -> str | None:
    """The text of the last message of `role` that has text (messages as JSON text or
    already decoded); None when there is none."""
    messages = json_or_raw(value)
    for message in reversed(messages) if isinstance(messages, list) else ():
        found = _message_text(message) if _has_role(message, role) else None
        if found is not None:
            return found
    return None


def _has_role(message: Any, role: str) -> bool:
    return isinstance(message, dict) and message.get("role") == role


def _message_text(message: dict[str, Any]) -> str | None:
    """The text of {role, parts: [{type: text, content}]} or of the older {role, content}
    (a string, or a list of {type: text, text})."""
    parts = message.get("parts")
    if isinstance(parts, list):
        return _joined(part.get("content") for part in parts if _is_text(part))
    content = message.get("content")
    if isinstance(content, list):
        return _joined(part.get("text") for part in content if _is_text(part))
    return content if isinstance(content, str) else None


def _is_text(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") == "text"


def _joined(texts: Iterable[Any]) -> str | None:
    found = [piece for piece in texts if isinstance(piece, str)]
    return "\n".join(found) if found else None
