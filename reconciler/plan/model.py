"""The plan report: what `alm plan --json` writes and `alm github pr` posts (schema_version 1).

One model for both ends. `alm plan` builds it from the desired state, the policy check
and the evals; the renderers (markdown to a budget, HTML) and the GitHub side read only
this. Under `workflow_run` the file comes from an artifact a pull request produced, so
it is untrusted data: unknown fields are refused, every string and list is bounded, and
a pull request number must be positive and a SHA 40 hex digits (docs/plan-schema.md).
Fields are only ever added within a version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from reconciler.errors import AlmError
from reconciler.evals import safejson
from reconciler.fsutil import read_limited

SCHEMA_VERSION = 1
MAX_BYTES = 64 << 20  # a plan file; a 200-agent fleet with every case failing fits

Text = Annotated[str, StringConstraints(max_length=20_000)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=300)]
Sha = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}$")]
Many = 100_000  # items in any one list

Status = Literal["ready", "blocked", "pending"]
ReasonKind = Literal[
    "error_finding", "threshold", "regression", "cost_limit", "not_run", "not_evaluated",
    "approval", "changes_requested",
]  # fmt: skip


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reason(Model):
    kind: ReasonKind
    text: Text
    agent: Name | None = None


class Verdict(Model):
    status: Status  # blocked: a reason fails the gate; pending: only approvals are missing
    reasons: list[Reason] = Field(default_factory=list, max_length=Many)


class PullRequest(Model):
    """Recorded by `alm plan` under a pull_request event; checked against the API later."""

    number: int = Field(gt=0)
    head_sha: Sha
    base_sha: Sha | None = None
    repository: Name | None = None  # owner/name
    author: Name | None = None


class RefInfo(Model):
    ref: Name | None  # None: the working tree
    commit: Sha | None


class AgentHashes(Model):
    agent: Name
    spec: Text  # sha256 of the agent's spec, prompt, granted tools and prices (run hash)
    prompt: Text | None
    dataset: Text | None  # sha256 of its eval cases


class Provenance(Model):
    base: RefInfo
    head: RefInfo
    alm_version: Name
    agents: list[AgentHashes] = Field(default_factory=list, max_length=Many)


class ChangeLine(Model):
    text: Text
    detail: Text | None = None


class Grant(Model):
    """A tool newly granted to an agent, with what it can touch."""

    tool: Name
    access: Name | None  # read | write | ... from the catalog
    risk: Name | None
    approvers: list[Name] = Field(default_factory=list, max_length=100)


class AgentChange(Model):
    agent: Name
    status: Literal["added", "removed", "changed", "invalid"]
    changes: list[ChangeLine] = Field(default_factory=list, max_length=Many)
    new_grants: list[Grant] = Field(default_factory=list, max_length=Many)


class Changes(Model):
    agents: list[AgentChange] = Field(default_factory=list, max_length=Many)
    unchanged_agents: int = Field(ge=0)
    sections: dict[Name, list[ChangeLine]] = Field(default_factory=dict)  # catalog, ...


class FindingEntry(Model):
    severity: Literal["error", "warning"]
    code: Name
    message: Text
    file: Text
    line: int = Field(ge=0)
    column: int = Field(ge=0)
    new: bool | None  # introduced by the change; None when unknown
    source: Literal["validate", "policy"]


class Approval(Model):
    id: Name
    from_: list[Name] = Field(alias="from", max_length=100)  # any one suffices
    reason: Text
    source: Name  # codeowners | policy | tool
    agents: list[Name] = Field(default_factory=list, max_length=Many)
    files: list[Text] = Field(default_factory=list, max_length=Many)
    policy: Name | None = None
    approved_by: list[Name] = Field(default_factory=list, max_length=100)


class NotCounted(Model):
    reviewer: Name
    why: Text


class Approvals(Model):
    required: list[Approval] = Field(default_factory=list, max_length=Many)
    reviews_read: bool = False  # False: reviews not read yet (alm plan alone): all pending
    head_sha: Sha | None = None  # the commit approvals were counted on
    not_counted: list[NotCounted] = Field(default_factory=list, max_length=Many)
    changes_requested: list[Name] = Field(default_factory=list, max_length=100)


MetricStatus = Literal["ok", "missed", "not measured", "no threshold"]


class Metric(Model):
    name: Name
    base: float | None
    head: float | None
    threshold: Text | None  # ">= 0.90", "<= 0.01"
    status: MetricStatus


class CheckEntry(Model):
    metric: Name  # pass_rate | cost | latency
    base: float | None
    head: float | None
    p_value: float | None
    regressed: bool
    why: Text


class ToolCallEntry(Model):
    tool: Name
    arguments: Text  # JSON, truncated
    succeeded: bool
    error: Text | None = None


class CaseEntry(Model):
    case: Text  # suite/case-id
    state: Literal["failed", "flaky", "not_run"]
    newly_failing: bool  # passed on base
    reason: Text
    expected: Text | None = None
    got: Text | None = None
    rule: Text | None = None  # the violated must-never rule
    last_tool_calls: list[ToolCallEntry] = Field(default_factory=list, max_length=20)


AgentEvalStatus = Literal["passed", "failed", "regressed", "not run", "new", "removed"]


class AgentEval(Model):
    agent: Name
    status: AgentEvalStatus
    headline: Text  # the paired test's verdict in one line
    metrics: list[Metric] = Field(default_factory=list, max_length=100)
    checks: list[CheckEntry] = Field(default_factory=list, max_length=10)
    paired: int = Field(ge=0)
    cases: list[CaseEntry] = Field(default_factory=list, max_length=Many)  # failing, not run
    not_run: int = Field(default=0, ge=0)


class Evals(Model):
    ran: bool  # False: no agent affected, or evals not asked for
    agents: list[AgentEval] = Field(default_factory=list, max_length=Many)
    not_evaluated: list[Reason] = Field(default_factory=list, max_length=Many)
    trials: dict[Name, int] = Field(default_factory=dict)  # run, cached, not_run
    run_cost_usd: float = Field(default=0.0, ge=0)


class CostRow(Model):
    agent: Name
    model_base: Name | None
    model_head: Name | None
    per_task_base: float | None
    per_task_head: float | None
    tasks_per_month: int | None
    monthly_base: float | None
    monthly_head: float | None
    delta_monthly: float | None


class CostBreach(Model):
    agent: Name
    policy: Name
    text: Text


class Cost(Model):
    rows: list[CostRow] = Field(default_factory=list, max_length=Many)
    total_monthly_base: float = 0.0
    total_monthly_head: float = 0.0
    eval_run_cost_usd: float = Field(default=0.0, ge=0)
    price_source: Text
    breaches: list[CostBreach] = Field(default_factory=list, max_length=Many)


class EnvironmentStep(Model):
    environment: Name
    agents: list[Name] = Field(default_factory=list, max_length=Many)
    gates: list[Text] = Field(default_factory=list, max_length=100)
    # removed from the desired state here (the agent deleted, renamed or leaving this
    # environment): apply leaves them deployed until `alm apply --prune` deletes them
    stays: list[Name] = Field(default_factory=list, max_length=Many)


class Links(Model):
    html_report: Text | None = None  # the run's artifact
    job_summary: Text | None = None
    run: Text | None = None


class PlanReport(Model):
    schema_version: Literal[1]
    kind: Literal["PlanReport"] = "PlanReport"
    verdict: Verdict
    pull_request: PullRequest | None = None
    provenance: Provenance
    changes: Changes
    findings: list[FindingEntry] = Field(default_factory=list, max_length=Many)
    approvals: Approvals
    evals: Evals
    cost: Cost
    deploy: list[EnvironmentStep] = Field(default_factory=list, max_length=100)
    links: Links = Field(default_factory=Links)


# --- the file --------------------------------------------------------------------------


def to_json(report: PlanReport) -> str:
    return report.model_dump_json(indent=2, by_alias=True) + "\n"


def from_json(data: str | bytes, source: str = "plan") -> PlanReport:
    """A plan report from JSON text: UTF-8, finite numbers, bounded nesting, the schema
    (unknown fields refused), else an AlmError naming the source and the bad field."""
    try:
        value = safejson.loads(data)
    except safejson.JsonRefused as exc:
        raise AlmError(exc.at(source)) from None
    if not isinstance(value, dict) or value.get("schema_version") != SCHEMA_VERSION:
        raise AlmError(
            f"{source}: expected a plan report (alm plan --json) with schema_version "
            f"{SCHEMA_VERSION}"
        )
    try:
        return PlanReport.model_validate(value)
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        parts = "; ".join(safejson.describe(e) for e in errors[:3])
        more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
        raise AlmError(f"{source}: not a valid plan report: {parts}{more}") from None


def read(path: Path) -> PlanReport:
    return from_json(read_limited(path, MAX_BYTES, "a plan report JSON file"), str(path))
