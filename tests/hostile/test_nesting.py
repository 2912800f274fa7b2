"""Class 4: output or tool arguments nested thousands deep never crash a run.

An agent (command), a model (live, or through its cassette) or a cassette file itself
returning {"a": {"a": ...}} 10,000 deep, or a few hundred deep (which parses, then broke
pydantic when the results were written: exit 4): each is a not-run trial whose reason says
"nested too deep; expected at most 64 levels", the run exits 1, and --out is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.evals.records import summarize
from reconciler.evals.safejson import MAX_DEPTH, TooDeep, check_depth, loads
from reconciler.evals.types import ToolCall, Trajectory
from tests.gitrepo import GitRepo
from tests.hostile.agent_repo import AGENT, command_agent, eval_case
from tests.openai_server import OpenAIServer

DEEP = 10_000
REASON = f"nested too deep; expected at most {MAX_DEPTH} levels"


def nested(levels: int) -> str:
    return '{"a":' * levels + "{}" + "}" * levels


def nested_value(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def test_too_deep_is_one_error_type_whether_parsing_or_walking() -> None:
    """What the runners tell apart from other refused JSON (which is the agent's error)."""
    for attempt in (lambda: loads(nested(DEEP)), lambda: check_depth(nested_value(DEEP))):
        with pytest.raises(TooDeep, match=REASON):
            attempt()
    check_depth(nested_value(MAX_DEPTH - 1))  # MAX_DEPTH objects in all: accepted


def test_loads_walks_the_value_whenever_its_brackets_allow_one_level_too_many() -> None:
    """loads skips the depth walk only when the text has too few brackets to nest past
    the limit; one level past it (which json.loads itself reads fine) is refused."""
    assert loads(nested(MAX_DEPTH - 1)) == nested_value(MAX_DEPTH - 1)
    assert loads('{"a": "[[[[", "b": [[]]}' + " " * 99) == {"a": "[[[[", "b": [[]]}
    for deeper in (nested(MAX_DEPTH), "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)):
        with pytest.raises(TooDeep, match=REASON):
            loads(deeper)


# --- a command agent -------------------------------------------------------------------


def _deep_agent(repo: GitRepo, line: str) -> None:
    """A command agent that reads the start message and prints `line` (a Python expr)."""
    command_agent(
        repo,
        f"""
        import json, sys
        sys.stdin.readline()
        deep = {nested(DEEP)!r}
        mid = {nested(500)!r}
        sys.stdout.write({line} + "\\n")
        sys.stdout.flush()
        sys.stdin.readline()
        """,
    )


CALL = '\'{"type":"tool_call","id":"c1","name":"crm__get_account","arguments":\''
AGENT_CASES = {
    "arguments 10,000 deep": (CALL + " + deep + '}'", f"stdout line 1: {REASON}"),
    "arguments 500 deep": (CALL + " + mid + '}'", f"stdout line 1: {REASON}"),
    "arguments as a JSON string": (
        CALL[:-1] + "' + json.dumps(deep) + '}'",
        f"the tool call's arguments: {REASON}",
    ),
    "a final message with a deep field": (
        '\'{"type":"final","output":"x","extra":\' + deep + \'}\'',
        f"stdout line 1: {REASON}",
    ),
}


@pytest.mark.parametrize("name", sorted(AGENT_CASES))
def test_a_command_agent_sending_deep_json_is_a_not_run_trial(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    line, reason = AGENT_CASES[name]
    _deep_agent(fleet_repo, line)
    code, output, cases = eval_case(fleet_repo, capsys, tmp_path / "r.json")
    assert code == 1 and "Traceback" not in output and "unexpected error" not in output
    (case,) = cases
    assert case["status"] == "not_run" and case["reason"] == reason


# --- a model, live or through its cassettes --------------------------------------------


@pytest.fixture
def deep_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIServer]:
    """A live endpoint whose model calls a tool with arguments 300 deep."""
    call = {"name": "crm__get_account", "arguments": nested_value(300)}
    with OpenAIServer([{"tool_calls": [call]}]) as live:
        monkeypatch.setenv("ALM_OPENAI_BASE_URL", live.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-dummy")
        yield live


def test_a_live_model_calling_a_tool_with_deep_arguments_is_a_not_run_trial(
    fleet_repo: GitRepo,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    deep_model: OpenAIServer,
) -> None:
    code, output, cases = eval_case(fleet_repo, capsys, tmp_path / "r.json", "--mode", "live")
    assert deep_model.requests  # the model was asked
    assert code == 1 and "Traceback" not in output and "unexpected error" not in output
    assert cases[0]["status"] == "not_run"
    assert cases[0]["reason"] == f"the model's tool call arguments: {REASON}"


def _first_turn_cassettes(repo: GitRepo) -> list[Path]:
    paths = []
    for path in sorted((repo.path / "evals" / AGENT / "cassettes").glob("*.json")):
        if json.loads(path.read_text("utf-8"))["request"]["message_count"] == 2:
            paths.append(path)
    assert paths
    return paths


def _deep_arguments(text: str) -> str:
    data = json.loads(text)
    function = {"name": "crm__get_account", "arguments": nested(DEEP)}
    data["response"]["message"]["tool_calls"] = [
        {"id": "c1", "type": "function", "function": function}
    ]
    return json.dumps(data)


def _deep_message(text: str) -> str:
    data = json.loads(text)
    data["response"]["message"]["audio"] = nested_value(300)
    return json.dumps(data)


def _deep_file(text: str) -> str:
    return text.replace('"provenance": {', f'"deep": {nested(DEEP)}, "provenance": {{', 1)


CASSETTE_EDITS = {
    "tool call arguments 10,000 deep": _deep_arguments,
    "a message 300 deep": _deep_message,
    "a file 10,000 deep": _deep_file,
}


@pytest.mark.parametrize("name", sorted(CASSETTE_EDITS))
def test_a_deep_cassette_is_a_not_run_trial(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    """The cassette checks (replay) word the reason; the limit and its words are shared."""
    for path in _first_turn_cassettes(fleet_repo):
        path.write_text(CASSETTE_EDITS[name](path.read_text("utf-8")), "utf-8")
    fleet_repo.commit("deep cassettes")
    code, output, cases = eval_case(fleet_repo, capsys, tmp_path / "r.json")
    assert code == 1 and "Traceback" not in output and "unexpected error" not in output
    assert cases[0]["status"] == "not_run" and REASON in cases[0]["reason"]


def test_a_record_of_deep_arguments_still_serialises() -> None:
    """Behind the sandbox's refusal: a record never carries what the results JSON cannot."""
    trajectory = Trajectory(tool_calls=[ToolCall("c1", "crm.get_account", nested_value(300))])
    (call,) = summarize(trajectory).tool_calls
    assert call.arguments == {"_truncated": REASON}
