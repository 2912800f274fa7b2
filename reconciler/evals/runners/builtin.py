"""The builtin runner: runs the spec itself against a model provider.

It sends the system prompt, the case input and the granted tools (function definitions
from the catalog's JSON Schemas), then loops on tool calls up to ``limits.max_steps``
model calls. Every tool call goes through the sandbox. Each model call is priced with
the job's PriceBook; a trial whose cost passes ``limits.max_cost_usd_per_task`` is
stopped with an error, as the production runtime would stop it.

Latency: each model call counts at the latency the provider reports (the measured round
trip live, the recorded one in replay), never the time spent waiting for it, so rate-limit
waits, retries and a busy machine are not counted (see runners.base.recorded_latency).
"""

from __future__ import annotations

from typing import Any

from reconciler.errors import AlmError
from reconciler.evals.runners.base import fail, priced_call, run_bounded
from reconciler.evals.runners.functions import function_definitions, tool_name, user_message
from reconciler.evals.safejson import JsonRefused, TooDeep, loads
from reconciler.evals.sandbox import Sandbox
from reconciler.evals.types import (
    CaseJob,
    ChatRequest,
    Provider,
    ToolCall,
    Trajectory,
    canonical_json,
)
from reconciler.spec.agent import Agent
from reconciler.spec.catalog import Tool

_Definitions = tuple[Agent, dict[str, Tool], tuple[dict[str, Any], ...]]


class BuiltinRunner:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self._tools: dict[tuple[int, int], _Definitions] = {}

    async def run(self, job: CaseJob) -> Trajectory:
        return await run_bounded(job, lambda trajectory: self._loop(job, trajectory))

    async def _loop(self, job: CaseJob, trajectory: Trajectory) -> None:
        agent = job.agent
        sandbox = Sandbox.for_job(job)
        tools = self._definitions(job)
        params = agent.model.params.model_dump(exclude_none=True)
        trajectory.messages = [
            {"role": "system", "content": job.system_prompt},
            user_message(job.case.input),
        ]
        for _ in range(agent.limits.max_steps):
            request = ChatRequest(
                provider=agent.model.provider,
                model=agent.model.name,
                messages=tuple(trajectory.messages),
                tools=tools,
                params=params,
            )
            message = await self._complete(job, request, trajectory)
            calls = message.get("tool_calls") or []
            if not calls:
                trajectory.final_output = message.get("content") or ""
                trajectory.stop_reason = "final"
                return
            for call in calls:
                answer_call(sandbox, call, trajectory)
            if trajectory.cost_usd > agent.limits.max_cost_usd_per_task:
                limit = agent.limits.max_cost_usd_per_task
                fail(trajectory, f"stopped: cost passed limits.max_cost_usd_per_task ${limit:g}")
                return
        trajectory.stop_reason = "max_steps"

    async def _complete(
        self, job: CaseJob, request: ChatRequest, trajectory: Trajectory
    ) -> dict[str, Any]:
        response = await self.provider.complete(request)
        trajectory.steps += 1
        trajectory.model_calls.append(
            priced_call(job, request.provider, request.model, response.usage, response.latency_s)
        )
        trajectory.messages.append(response.message)
        return response.message

    def _definitions(self, job: CaseJob) -> tuple[dict[str, Any], ...]:
        """Built once per (agent, catalog) object: base and head agents differ."""
        cache_key = (id(job.agent), id(job.catalog))
        cached = self._tools.get(cache_key)
        if cached is None or cached[0] is not job.agent or cached[1] is not job.catalog:
            tools = function_definitions(job.agent, job.catalog)
            cached = self._tools[cache_key] = (job.agent, job.catalog, tools)
        return cached[2]


def answer_call(sandbox: Sandbox, call: dict[str, Any], trajectory: Trajectory) -> ToolCall:
    """Parse one OpenAI tool call, answer it through the sandbox, append the tool message."""
    function = call.get("function") or {}
    raw = function.get("arguments") or "{}"
    try:
        arguments: Any = loads(raw)
    except TooDeep as exc:  # nothing later could walk them: the trial ends, not run
        raise AlmError(f"the model's tool call arguments: {exc}") from None
    except JsonRefused:
        arguments = raw  # not JSON: the sandbox answers "arguments expected a JSON object"
    answered = sandbox.call(
        str(call.get("id", "")), tool_name(str(function.get("name"))), arguments
    )
    trajectory.tool_calls.append(answered)
    trajectory.messages.append(
        {"role": "tool", "tool_call_id": answered.id, "content": tool_content(answered)}
    )
    return answered


def tool_content(call: ToolCall) -> str:
    if call.error is not None:
        return canonical_json({"error": call.error})
    return canonical_json(call.result)
