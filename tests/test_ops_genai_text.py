"""Text out of GenAI message attributes, in the shapes instrumentations write."""

from __future__ import annotations

import json

from reconciler.ops.genai_text import json_or_raw, last_text


def test_the_last_text_of_a_role_in_the_current_and_older_shapes() -> None:
    messages = [
        {"role": "user", "parts": [{"type": "text", "content": "first"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "name": "t"}]},
        {
            "role": "user",
            "parts": [{"type": "text", "content": "a"}, {"type": "text", "content": "b"}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "old list"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "name": "t"}]},
    ]
    assert last_text(json.dumps(messages), "user") == "a\nb"
    assert last_text(messages, "assistant") == "old list"  # a message without text is skipped
    assert last_text(json.dumps([{"role": "user", "content": "plain"}]), "user") == "plain"
    assert last_text(json.dumps(messages), "system") is None


def test_what_is_not_messages_gives_no_text() -> None:
    for value in (None, 3, "not json", "{}", json.dumps([1, "x", {"role": "user"}])):
        assert last_text(value, "user") is None


def test_json_is_decoded_and_anything_else_kept() -> None:
    assert json_or_raw('{"id": 7}') == {"id": 7}
    assert json_or_raw("id=7") == "id=7"
    assert json_or_raw({"already": True}) == {"already": True}
    assert json_or_raw("[" * 100_000) == "[" * 100_000  # too deep for json: kept as text
