"""The alm.agent/v1 protocol, the same over stdin/stdout (command) and HTTP (http).

Strictly alternating: alm sends one message, the agent answers with exactly one.
alm sends ``start``, then a ``tool_result`` for each ``tool_call``; the agent ends with
``final`` (or ``error``). The full description is docs/agent-protocol.md.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol, get_args

from reconciler.evals.runners.base import AgentProtocolError, fail, priced_call
from reconciler.evals.runners.builtin import tool_content
from reconciler.evals.runners.functions import (
    function_definitions,
    function_name,
    tool_name,
    user_message,
)
from reconciler.evals.safejson import JsonRefused, TooDeep, loads
from reconciler.evals.sandbox import Sandbox
from reconciler.evals.types import CaseJob, ModelCall, Outcome, Trajectory, canonical_json
from reconciler.pricing import TokenUsage

PROTOCOL = "alm.agent/v1"
OUTCOMES: tuple[str, ...] = get_args(Outcome)
Message = dict[str, Any]


class Transport(Protocol):
    async def send(self, message: Message) -> Message:
        """Send one message to the agent and return the agent's next message."""
        ...


def start_message(job: CaseJob) -> Message:
    agent = job.agent
    return {
        "type": "start",
        "protocol": PROTOCOL,
        "agent": agent.name,
        "case": job.case.id,
        "trial": job.trial,
        "system_prompt": job.system_prompt,
        "tools": list(function_definitions(agent, job.catalog)),
        "input": {"message": job.case.input.message, "context": job.case.input.context},
        "model": {
            "provider": agent.model.provider,
            "name": agent.model.name,
            "params": agent.model.params.model_dump(exclude_none=True),
        },
        "limits": agent.limits.model_dump(),
    }


class Conversation:
    """One trial with an external agent: turns its messages into a trajectory."""

    def __init__(self, job: CaseJob, transport: Transport, trajectory: Trajectory) -> None:
        self.job = job
        self.transport = transport
        self.trajectory = trajectory
        self.sandbox = Sandbox.for_job(job)

    async def run(self) -> None:
        self.trajectory.messages = [
            {"role": "system", "content": self.job.system_prompt},
            user_message(self.job.case.input),
        ]
        reply: Message | None = await self.transport.send(start_message(self.job))
        while reply is not None:
            handler = HANDLERS.get(str(reply.get("type")))
            if handler is None:
                raise AgentProtocolError(
                    f"the agent sent a message of type {reply.get('type')!r}; "
                    f"expected one of {sorted(HANDLERS)}"
                )
            reply = await handler(self, reply)

    async def on_tool_call(self, message: Message) -> Message | None:
        trajectory = self.trajectory
        if len(trajectory.tool_calls) >= self.job.agent.limits.max_steps:
            trajectory.stop_reason = "max_steps"
            trajectory.error = "the agent passed limits.max_steps tool calls"
            return None
        call_id, name, arguments = message.get("id"), message.get("name"), message.get("arguments")
        if not isinstance(call_id, str) or not isinstance(name, str):
            raise AgentProtocolError("tool_call expects string id and name")
        call = self.sandbox.call(call_id, tool_name(name), _arguments(arguments))
        trajectory.tool_calls.append(call)
        trajectory.steps = len(trajectory.tool_calls)
        trajectory.messages.append(_assistant_call(call_id, call.tool, message.get("arguments")))
        trajectory.messages.append(
            {"role": "tool", "tool_call_id": call_id, "content": tool_content(call)}
        )
        answer: Message = {"type": "tool_result", "id": call_id}
        if call.error is not None:
            answer["error"] = call.error
        else:
            answer["result"] = call.result
        return await self.transport.send(answer)

    async def on_final(self, message: Message) -> None:
        output, outcome = message.get("output", ""), message.get("outcome")
        if not isinstance(output, str):
            raise AgentProtocolError("final expects output to be a string")
        if outcome is not None and outcome not in OUTCOMES:
            raise AgentProtocolError(f"final outcome {outcome!r}; expected one of {OUTCOMES}")
        trajectory = self.trajectory
        usage = message.get("usage") or []
        if not isinstance(usage, list):
            raise AgentProtocolError("final expects usage to be a list")
        trajectory.model_calls.extend(self._model_call(u) for u in usage)
        trajectory.steps = len(usage) or len(trajectory.tool_calls) + 1
        trajectory.final_output = output
        trajectory.outcome = outcome
        trajectory.stop_reason = "final"
        trajectory.messages.append({"role": "assistant", "content": output})
        return None

    async def on_error(self, message: Message) -> None:
        fail(self.trajectory, f"the agent reported an error: {message.get('message', '')}")
        return None

    def _model_call(self, entry: Any) -> ModelCall:
        agent = self.job.agent
        if not isinstance(entry, dict):
            raise AgentProtocolError("final usage entries expect objects")
        try:
            usage = TokenUsage(
                int(entry.get("input_tokens", 0)),
                int(entry.get("output_tokens", 0)),
                int(entry.get("cached_input_tokens", 0)),
            )
            latency = float(entry.get("latency_s", 0.0))
        except (TypeError, ValueError):
            raise AgentProtocolError("final usage expects integer token counts") from None
        provider = str(entry.get("provider", agent.model.provider))
        return priced_call(
            self.job, provider, str(entry.get("model", agent.model.name)), usage, latency
        )


def _arguments(arguments: Any) -> Any:
    """An object; a JSON-encoded string (as OpenAI sends them) is accepted too."""
    if arguments is None:
        return {}
    if isinstance(arguments, str):
        try:
            return loads(arguments)
        except TooDeep as exc:  # nothing later could walk them: a reason for the trial
            raise AgentProtocolError(f"the tool call's arguments: {exc}") from None
        except JsonRefused:
            return arguments  # the sandbox answers: arguments expected a JSON object
    return arguments


def _assistant_call(call_id: str, tool: str, arguments: Any) -> Message:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": function_name(tool), "arguments": canonical_json(arguments)},
            }
        ],
    }


Handler = Callable[[Conversation, Message], Coroutine[Any, Any, Message | None]]

HANDLERS: dict[str, Handler] = {
    "tool_call": Conversation.on_tool_call,
    "final": Conversation.on_final,
    "error": Conversation.on_error,
}
