"""The shared vocabulary of the eval harness: requests, responses, trajectories.

Providers turn a ChatRequest into a ChatResponse. Runners turn a CaseJob into a
Trajectory. Graders and metrics read trajectories. Everything here is plain data
so that results can be cached, sharded and merged as JSON.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from reconciler.errors import AlmError
from reconciler.pricing import PriceBook, TokenUsage
from reconciler.spec.agent import Agent
from reconciler.spec.catalog import Tool
from reconciler.spec.evalsuite import Case

Outcome = Literal["resolved", "escalated", "refused"]
StopReason = Literal["final", "max_steps", "timeout", "error"]
ViolationKind = Literal["ungranted", "arguments", "constraint", "must_never", "no_fixture"]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_of(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


# --- model providers -------------------------------------------------------------------


@dataclass(frozen=True)
class ChatRequest:
    """Everything that changes a model's answer; its hash keys cassettes."""

    provider: str
    model: str
    messages: tuple[dict[str, Any], ...]
    tools: tuple[dict[str, Any], ...] = ()  # OpenAI "function" tool definitions
    tool_choice: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # temperature, top_p, max_tokens, seed

    def key(self) -> str:
        return sha256_of(
            {
                "model": self.model,
                "messages": list(self.messages),
                "tools": list(self.tools),
                "tool_choice": self.tool_choice,
                "params": self.params,
            }
        )


@dataclass(frozen=True)
class ChatResponse:
    message: dict[str, Any]  # the assistant message: content and/or tool_calls, OpenAI shape
    usage: TokenUsage
    finish_reason: str = "stop"
    latency_s: float = 0.0


class ProviderError(AlmError):
    """A model call failed. retryable: 429 and 5xx; retry_after from the server, if any."""

    def __init__(self, message: str, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class NotRecorded(ProviderError):
    """Replay mode found no cassette for a request: the case is not run, never passed."""

    def __init__(self, key: str) -> None:
        super().__init__(f"not recorded: no cassette for request {key[:12]}")
        self.key = key


class Provider(Protocol):
    name: str

    async def complete(self, request: ChatRequest) -> ChatResponse: ...


# --- trajectories ----------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    kind: ViolationKind
    message: str
    rule: str | None = None  # the must_never id, when kind == "must_never"


@dataclass(frozen=True)
class ToolCall:
    id: str
    tool: str
    arguments: dict[str, Any]
    result: Any = None
    error: str | None = None  # the error the agent was answered with
    violations: tuple[Violation, ...] = ()
    approval_requested: bool = False  # the grant has requires_approval: a human was asked
    latency_s: float = 0.0  # the fixture's declared latency: the real tool's, never wall time

    @property
    def succeeded(self) -> bool:
        """Named a granted tool, passed schema and constraints, and did not error."""
        return self.error is None and not self.violations


@dataclass(frozen=True)
class ModelCall:
    provider: str
    model: str
    usage: TokenUsage
    latency_s: float
    cost_usd: float = 0.0


@dataclass
class Trajectory:
    messages: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    final_output: str = ""
    model_calls: list[ModelCall] = field(default_factory=list)
    latency_s: float = 0.0
    steps: int = 0
    stop_reason: StopReason = "final"
    outcome: Outcome | None = None  # when the runner reports one; else the grader derives it
    error: str | None = None
    output_violations: list[Violation] = field(default_factory=list)
    not_recorded: bool = False  # replay found no cassette: the case did not run; never a pass

    @property
    def cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.model_calls)


# --- runners ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseJob:
    """One trial of one case for one agent."""

    agent: Agent
    system_prompt: str
    catalog: dict[str, Tool]  # the whole catalog: a call to an ungranted tool is a violation
    case: Case
    prices: PriceBook
    trial: int = 0


class Runner(Protocol):
    async def run(self, job: CaseJob) -> Trajectory: ...
