"""The Agent document: contract, model, prompt, tools, limits, runtime, deploy."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from reconciler.spec.base import (
    Document,
    GrantName,
    Name,
    NonEmpty,
    Regex,
    Strict,
    ToolName,
    require_unique,
)


def grant_covers(grant: str, tool: str) -> bool:
    """`system.*` covers every tool of the system; otherwise names must be equal."""
    if grant.endswith(".*"):
        return tool.split(".", 1)[0] == grant[:-2]
    return grant == tool


class Metadata(Strict):
    name: Name
    owners: list[str] = Field(min_length=1, description="@user or @org/team")
    labels: dict[str, str] = Field(default_factory=dict)
    description: str = ""


class Scope(Strict):
    in_: list[NonEmpty] = Field(default_factory=list, alias="in")
    out: list[NonEmpty] = Field(default_factory=list)


class MustNever(Strict):
    id: Name
    rule: NonEmpty
    forbid_tools: list[GrantName] = Field(default_factory=list)
    forbid_output_patterns: list[Regex] = Field(
        default_factory=list, description="regular expressions the final output must not match"
    )


class Escalation(Strict):
    tool: ToolName
    when: list[NonEmpty] = Field(min_length=1)


class Bound(Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_side(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("expected min or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("expected min <= max")
        return self


RATE_METRICS = frozenset(
    {
        "task_success_rate",
        "tool_call_success_rate",
        "escalation_precision",
        "escalation_recall",
        "policy_compliance",
        "pass_hat_k",
    }
)


class SuccessMetrics(Strict):
    """The thresholds gates and production checks use (metric definitions in DESIGN.md)."""

    task_success_rate: Bound | None = None
    tool_call_success_rate: Bound | None = None
    escalation_precision: Bound | None = None
    escalation_recall: Bound | None = None
    policy_compliance: Bound | None = None
    cost_per_task_usd: Bound | None = None
    latency_p50_s: Bound | None = None
    latency_p95_s: Bound | None = None
    pass_hat_k: Bound | None = None

    @model_validator(mode="after")
    def _rates_are_fractions(self) -> SuccessMetrics:
        for name, bound in self.declared().items():
            if name in RATE_METRICS and any(
                v is not None and not 0 <= v <= 1 for v in (bound.min, bound.max)
            ):
                raise ValueError(f"{name} is a rate; expected bounds between 0 and 1 (0.9, not 90)")
        return self

    def declared(self) -> dict[str, Bound]:
        return {k: v for k, v in self if isinstance(v, Bound)}


class Volume(Strict):
    tasks_per_month: int = Field(ge=0)


class Contract(Strict):
    purpose: NonEmpty
    scope: Scope = Field(default_factory=Scope)
    must_never: list[MustNever] = Field(default_factory=list)
    escalation: Escalation | None = None
    data_classes: list[Name] = Field(
        default_factory=list,
        description="classes of data this agent may handle (pii, financial, ...); "
        "policies compare them with the data_classes of the tools it is granted",
    )
    success_metrics: SuccessMetrics
    volume: Volume | None = None

    @field_validator("must_never")
    @classmethod
    def _unique_ids(cls, rules: list[MustNever]) -> list[MustNever]:
        require_unique([r.id for r in rules], "must_never ids")
        return rules


class ModelParams(Strict):
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, gt=0)
    seed: int | None = None


class ModelRef(Strict):
    provider: NonEmpty
    name: NonEmpty
    params: ModelParams = Field(default_factory=ModelParams)


class Prompt(Strict):
    system: NonEmpty = Field(description="path of the system prompt, relative to the agent folder")


class Constraint(Strict):
    """Narrows one argument of a granted tool beyond its catalog schema."""

    enum: list[Any] | None = Field(default=None, min_length=1)
    const: Any = None
    pattern: Regex | None = None
    not_pattern: Regex | None = Field(
        default=None,
        description="the value must not contain a match (RE2 has no lookahead to say so)",
    )
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = Field(default=None, ge=0)


class ToolGrant(Strict):
    name: GrantName
    constraints: dict[str, Constraint] = Field(default_factory=dict)
    requires_approval: bool = Field(
        default=False, description="a human approves each call before it runs"
    )


def _grant_shape(value: Any) -> str | None:
    """The one branch a grant is checked against, so that a mistake inside a mapping is
    not also reported as "not a string" (the tags are dropped from error locations)."""
    if isinstance(value, dict | ToolGrant):
        return "dict"
    return "str" if isinstance(value, str) else None


Grant = Annotated[
    Annotated[ToolGrant, Tag("dict")] | Annotated[GrantName, Tag("str")],
    Discriminator(
        _grant_shape,
        custom_error_type="grant",
        custom_error_message="expected a tool name (system.action) or a mapping with name:",
    ),
]


class Limits(Strict):
    max_steps: int = Field(default=8, gt=0, le=200)
    max_cost_usd_per_task: float = Field(default=0.05, gt=0)
    timeout_s: float = Field(default=60, gt=0)


class Runtime(Strict):
    type: Literal["builtin", "command", "http"] = "builtin"
    command: list[NonEmpty] | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _needs_target(self) -> Runtime:
        if self.type == "command" and not self.command:
            raise ValueError("runtime type command expects command: [program, args...]")
        if self.type == "http" and not self.url:
            raise ValueError("runtime type http expects url")
        return self


class Rollout(Strict):
    strategy: Literal["all-at-once", "canary"] = "all-at-once"
    canary_percent: int | None = Field(default=None, ge=1, le=99)

    @model_validator(mode="after")
    def _canary_percent(self) -> Rollout:
        if self.strategy == "canary" and self.canary_percent is None:
            raise ValueError("canary rollout expects canary_percent")
        return self


class Deploy(Strict):
    environments: list[Name] = Field(default_factory=list)
    rollout: Rollout = Field(default_factory=Rollout)


class Agent(Document):
    kind: Literal["Agent"]
    metadata: Metadata
    contract: Contract
    model: ModelRef
    prompt: Prompt
    tools: list[Grant] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    runtime: Runtime = Field(default_factory=Runtime)
    deploy: Deploy = Field(default_factory=Deploy)

    @field_validator("tools")
    @classmethod
    def _normalise_grants(cls, tools: list[ToolGrant | str]) -> list[ToolGrant | str]:
        require_unique([t if isinstance(t, str) else t.name for t in tools], "tool grants")
        return tools

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def grants(self) -> list[ToolGrant]:
        return [ToolGrant(name=t) if isinstance(t, str) else t for t in self.tools]

    @property
    def customer_facing(self) -> bool:
        return self.metadata.labels.get("tier") == "customer-facing"
