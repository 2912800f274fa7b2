from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler.evals.providers import Providers
from reconciler.evals.runners import (
    BuiltinRunner,
    CommandRunner,
    HttpRunner,
    RunnerContext,
    make_runner,
)
from reconciler.evals.types import Trajectory
from tests.evals_support import AGENT, agent, case, job
from tests.openai_server import OpenAIServer, Step

EXAMPLE_AGENT = Path(__file__).resolve().parent.parent / "examples" / "command-agent" / "agent.py"
KEY = "sk-test"

ESCALATION_SCRIPT: list[Step] = [
    {"tool_calls": [{"name": "ticketing__get_ticket", "arguments": {"ticket_id": "TCK-1"}}]},
    {
        "tool_calls": [
            {"name": "billing__issue_refund", "arguments": {"amount": 5}},
            {"name": "crm__update_record", "arguments": {"id": "1"}},
        ]
    },
    {"tool_calls": [{"name": "human__escalate", "arguments": {"summary": "double charge"}}]},
    {"content": "Escalated TCK-1 to billing disputes."},
]


def live_env(server: OpenAIServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}


def builtin(server: OpenAIServer, mode: str = "live", cassettes: Path | None = None) -> Any:
    providers = Providers(mode, env=live_env(server))  # type: ignore[arg-type]
    return BuiltinRunner(providers.for_agent("openai", cassettes or Path("/nonexistent")))


# --- builtin ---------------------------------------------------------------------------


def test_builtin_loops_on_tool_calls_through_the_sandbox() -> None:
    with OpenAIServer(ESCALATION_SCRIPT) as server:
        trajectory = asyncio.run(builtin(server).run(job()))
    assert trajectory.stop_reason == "final" and trajectory.error is None
    assert trajectory.final_output == "Escalated TCK-1 to billing disputes."
    assert [c.tool for c in trajectory.tool_calls] == [
        "ticketing.get_ticket",
        "billing.issue_refund",
        "crm.update_record",
        "human.escalate",
    ]
    get, refund, crm, escalate = trajectory.tool_calls
    assert get.result == {"body": "x"} and get.succeeded
    assert [v.kind for v in refund.violations] == ["must_never"] and refund.result is None
    assert [v.kind for v in crm.violations] == ["ungranted"]
    assert escalate.approval_requested and escalate.result == {"handed_to": "tier2"}
    assert trajectory.steps == 4 and len(trajectory.model_calls) == 4
    assert trajectory.cost_usd > 0 and all(
        c.model == "gpt-4.1-mini" for c in trajectory.model_calls
    )
    first = server.requests[0]
    assert first["messages"][0] == {"role": "system", "content": job().system_prompt}
    assert "ticketing__update_ticket" in [t["function"]["name"] for t in first["tools"]]
    third = server.requests[2]["messages"]
    refused = next(m for m in third if m.get("tool_call_id") == "call_1_0")
    assert "refused by the sandbox" in json.loads(refused["content"])["error"]


def test_builtin_stops_at_max_steps() -> None:
    forever: list[Step] = [ESCALATION_SCRIPT[0]] * 10
    with OpenAIServer(forever) as server:
        trajectory = asyncio.run(builtin(server).run(job(agent(limits={"max_steps": 3}))))
    assert trajectory.stop_reason == "max_steps" and trajectory.steps == 3
    assert len(server.requests) == 3


def test_builtin_times_out_with_a_partial_trajectory() -> None:
    limits = {"max_steps": 8, "timeout_s": 0.3}
    with OpenAIServer(ESCALATION_SCRIPT, latency_s=0.2) as server:
        trajectory = asyncio.run(builtin(server).run(job(agent(limits=limits))))
    assert trajectory.stop_reason == "timeout" and "timed out" in (trajectory.error or "")
    assert len(trajectory.model_calls) == 1 and len(trajectory.tool_calls) == 1


def test_builtin_record_then_replay_is_identical(tmp_path: Path) -> None:
    with OpenAIServer(ESCALATION_SCRIPT) as server:
        recorded = asyncio.run(builtin(server, "record", tmp_path).run(job()))
        replayed = asyncio.run(builtin(server, "replay", tmp_path).run(job()))
        assert len(server.requests) == 4
    assert len(list(tmp_path.glob("*.json"))) == 4
    assert replayed.messages == recorded.messages
    assert replayed.tool_calls == recorded.tool_calls and replayed.stop_reason == "final"
    assert [c.cost_usd for c in replayed.model_calls] == [c.cost_usd for c in recorded.model_calls]


def test_builtin_replay_miss_is_not_recorded(tmp_path: Path) -> None:
    with OpenAIServer(ESCALATION_SCRIPT) as server:
        trajectory = asyncio.run(builtin(server, "replay", tmp_path).run(job()))
    assert trajectory.not_recorded and trajectory.stop_reason == "error"
    assert "not recorded" in (trajectory.error or "")


def test_builtin_model_without_a_price_is_an_error() -> None:
    unpriced = agent(model={"provider": "openai", "name": "no-such-model-xyz"})
    with OpenAIServer(ESCALATION_SCRIPT) as server:
        trajectory = asyncio.run(builtin(server).run(job(unpriced)))
    assert trajectory.stop_reason == "error" and "no price" in (trajectory.error or "")


# --- command ---------------------------------------------------------------------------


def command_agent(**runtime: Any) -> Any:
    return agent(runtime={"type": "command", **runtime}, limits={"max_steps": 6, "timeout_s": 5})


def run_command(command: list[str], the_case: Any = None, timeout_s: float = 5) -> Trajectory:
    the_agent = agent(
        runtime={"type": "command", "command": command},
        limits={"max_steps": 6, "timeout_s": timeout_s},
    )
    runner = make_runner(RunnerContext(the_agent))
    assert isinstance(runner, CommandRunner)
    return asyncio.run(runner.run(job(the_agent, the_case)))


def script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "agent.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


def test_the_example_agent_escalates_a_dispute() -> None:
    fixtures = [
        {
            "tool": "ticketing.get_ticket",
            "args": {"ticket_id": "TCK-1"},
            "returns": {"subject": "Charged twice", "body": "I will file a chargeback."},
        },
        {"tool": "human.escalate", "returns": {"handed_to": "billing-disputes"}},
    ]
    trajectory = run_command([sys.executable, str(EXAMPLE_AGENT)], case(fixtures=fixtures))
    assert trajectory.stop_reason == "final", trajectory.error
    assert trajectory.outcome == "escalated"
    assert [c.tool for c in trajectory.tool_calls] == ["ticketing.get_ticket", "human.escalate"]
    assert all(c.succeeded for c in trajectory.tool_calls)
    assert trajectory.tool_calls[1].arguments["reason"] == "billing_dispute"
    assert trajectory.final_output == "Escalated TCK-1 to billing-disputes."
    assert trajectory.steps == 3


def test_the_example_agent_routes_and_meets_the_sandbox() -> None:
    fixtures = [
        {"tool": "ticketing.get_ticket", "returns": {"subject": "SSO login", "body": "error"}},
        {"tool": "ticketing.update_ticket", "returns": {"ok": True}},
    ]
    trajectory = run_command([sys.executable, str(EXAMPLE_AGENT)], case(fixtures=fixtures))
    assert trajectory.outcome == "resolved" and trajectory.final_output == "Routed TCK-1 to tech."
    update = trajectory.tool_calls[1]
    # the example omits visibility; the schema default "public" breaks const: internal
    assert [v.kind for v in update.violations] == ["constraint"]


def test_command_agent_reports_usage_and_sees_the_start_message(tmp_path: Path) -> None:
    command = script(
        tmp_path,
        """
        import json, os, sys
        start = json.loads(sys.stdin.readline())
        print(json.dumps({"type": "tool_call", "id": "a", "name": "ticketing__get_ticket",
                          "arguments": {"ticket_id": "TCK-1"}}), flush=True)
        result = json.loads(sys.stdin.readline())
        seen = json.dumps([start, result, os.environ["ALM_CASE"]])
        usage = [{"model": "gpt-4.1-mini", "input_tokens": 1000, "output_tokens": 100}]
        print(json.dumps({"type": "final", "output": seen, "usage": usage}), flush=True)
        """,
    )
    trajectory = run_command(command)
    start, result, case_id = json.loads(trajectory.final_output)
    assert start["protocol"] == "alm.agent/v1" and start["agent"] == "triage"
    assert start["input"]["context"] == {"channel": "email"} and case_id == "dispute"
    assert {t["function"]["name"] for t in start["tools"]} >= {"ticketing__get_ticket"}
    assert result == {"type": "tool_result", "id": "a", "result": {"body": "x"}}
    assert trajectory.stop_reason == "final" and trajectory.steps == 1
    assert trajectory.model_calls[0].cost_usd > 0


BROKEN = {
    "crash": ("import sys; sys.stderr.write('boom'); sys.exit(3)", "exited with code 3"),
    "garbage": ("print('hello, I am not JSON', flush=True)", "is not JSON"),
    "silent exit": ("import sys; sys.stdin.readline()", "exited with code 0"),
    "wrong type": ('print(\'{"type": "dance"}\', flush=True)', "type 'dance'"),
    "bad outcome": (
        'print(\'{"type": "final", "output": "x", "outcome": "won"}\', flush=True)',
        "final outcome",
    ),
    "NaN in a message": (
        'print(\'{"type": "final", "output": "x", "usage": [{"latency_s": NaN}]}\', flush=True)',
        "stdout line 1: NaN is not JSON; expected a finite number",
    ),
    "exit after final": (
        'import sys; print(\'{"type": "final", "output": "x"}\', flush=True); sys.exit(2)',
        "exited with code 2 after",
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_command_agents_are_errors(tmp_path: Path, name: str) -> None:
    body, expected = BROKEN[name]
    trajectory = run_command(script(tmp_path, body))
    assert trajectory.stop_reason == "error", trajectory
    assert expected in (trajectory.error or "")


def test_a_missing_program_is_an_error() -> None:
    trajectory = run_command(["/nonexistent/agent"])
    assert trajectory.stop_reason == "error" and "cannot start" in (trajectory.error or "")


def test_a_hanging_agent_times_out_and_its_process_group_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    command = script(
        tmp_path,
        f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        time.sleep(60)
        """,
    )
    # stopped by its timeout (it sleeps 60 s), however long that took to take effect; the
    # timeout leaves a loaded machine time to start the agent and write the child's pid
    trajectory = run_command(command, timeout_s=3.0)
    assert trajectory.stop_reason == "timeout"
    child = int(pid_file.read_text())
    for _ in range(1500):  # the grandchild is killed with the group (a guard, not a target)
        if not alive(child):
            break
        time.sleep(0.02)
    else:
        pytest.fail("the agent's child process outlived the timeout")


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as dead)."""
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# --- http ------------------------------------------------------------------------------


class AgentServer:
    """A tiny agent over HTTP: reads the ticket, then answers; state per session id."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.sessions: dict[str, list[dict[str, Any]]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/agent"

    def reply(self, message: dict[str, Any]) -> dict[str, Any]:
        seen = self.sessions.setdefault(message["session"], [])
        seen.append(message)
        if message["type"] == "start":
            ticket = {"ticket_id": "TCK-1"}
            return {
                "type": "tool_call",
                "id": "t1",
                "name": "ticketing.get_ticket",
                "arguments": ticket,
            }
        output = f"ticket body {message['result']['body']} after {len(seen)} messages"
        return {"type": "final", "output": output, "outcome": "resolved"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        agent_server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                assert self.headers["ALM-Session"] == body["session"]
                status, data = 200, json.dumps(agent_server.reply(body)).encode()
                if agent_server.mode == "500":
                    status, data = 500, b"oops"
                elif agent_server.mode == "garbage":
                    data = b"<html>not json</html>"
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> AgentServer:
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def agent_server() -> Iterator[AgentServer]:
    with AgentServer() as server:
        yield server


def run_http(url: str) -> Trajectory:
    the_agent = agent(runtime={"type": "http", "url": url})
    runner = make_runner(RunnerContext(the_agent))
    assert isinstance(runner, HttpRunner)
    return asyncio.run(runner.run(job(the_agent)))


def test_http_runner_speaks_the_protocol_with_a_session(agent_server: AgentServer) -> None:
    trajectory = run_http(agent_server.url)
    assert trajectory.stop_reason == "final" and trajectory.outcome == "resolved"
    assert trajectory.final_output == "ticket body x after 2 messages"
    assert trajectory.tool_calls[0].succeeded
    (session,) = agent_server.sessions.values()
    assert [m["type"] for m in session] == ["start", "tool_result"]


@pytest.mark.parametrize(("mode", "expected"), [("500", "HTTP 500"), ("garbage", "not JSON")])
def test_http_agent_failures_are_errors(mode: str, expected: str) -> None:
    with AgentServer(mode) as server:
        trajectory = run_http(server.url)
    assert trajectory.stop_reason == "error" and expected in (trajectory.error or "")


def test_an_unreachable_http_agent_is_an_error() -> None:
    trajectory = run_http("http://127.0.0.1:9/agent")
    assert trajectory.stop_reason == "error" and "cannot reach" in (trajectory.error or "")


def test_the_runner_registry_by_runtime_type() -> None:
    assert "runtime" not in AGENT  # builtin by default
    with pytest.raises(Exception, match="needs a model provider"):
        make_runner(RunnerContext(agent()))
