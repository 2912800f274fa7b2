"""The tool catalog, the environments chain, policies and pricing overrides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from reconciler.spec.base import Document, Name, NonEmpty, Strict, ToolName, require_unique

Access = Literal["read", "write", "destructive"]
Risk = Literal["low", "medium", "high", "critical"]
RISK_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}
# Providers limit a function's name (OpenAI: ^[a-zA-Z0-9_-]{1,64}$), and the builtin runner
# sends `crm.update_record` as `crm__update_record` (reconciler.evals.runners.functions):
# one character longer than the tool's name. The pattern of ToolName allows no other
# character, so the length is all that can fail.
MAX_FUNCTION_NAME = 64
MAX_TOOL_NAME = MAX_FUNCTION_NAME - 1


class Tool(Strict):
    name: ToolName
    system: Name
    description: NonEmpty
    access: Access
    risk: Risk
    data_classes: list[Name] = Field(default_factory=list, description="pii, financial, ...")
    parameters: dict[str, Any] = Field(description="JSON Schema of the tool's arguments")
    approvers: list[str] = Field(default_factory=list, description="who approves a new grant")

    @model_validator(mode="after")
    def _system_prefix(self) -> Tool:
        if self.name.split(".", 1)[0] != self.system:
            raise ValueError(
                f"tool name {self.name} expected to start with its system {self.system}."
            )
        return self

    @field_validator("name")
    @classmethod
    def _fits_a_function_name(cls, name: str) -> str:
        if len(name) > MAX_TOOL_NAME:
            raise ValueError(
                f"the tool name is {len(name):,} characters; expected at most {MAX_TOOL_NAME}: "
                f"models are sent it as a function name (the dot as __), which providers "
                f"limit to {MAX_FUNCTION_NAME} characters"
            )
        return name

    @field_validator("parameters")
    @classmethod
    def _object_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        if schema.get("type") != "object":
            raise ValueError("parameters expected a JSON Schema with type: object")
        return schema

    @property
    def argument_names(self) -> set[str]:
        properties = self.parameters.get("properties")
        if not isinstance(properties, dict):  # not a valid schema; catalog_tools_valid says so
            return set()
        return {name for name in properties if isinstance(name, str)}


class ToolCatalog(Document):
    kind: Literal["ToolCatalog"]
    tools: list[Tool] = Field(min_length=1)


TargetType = Literal["directory", "git", "http"]
DEFAULT_BRANCH = "alm/deployments"
DEFAULT_AUDIT_BRANCH = "alm/audit"
BRANCH_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$"
ENV_VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
DRIFT_PATH_PATTERN = r"^content(\.([A-Za-z0-9_-]+|\*))+$"

# Which settings each target type reads: a setting of another type is a mistake, not ignored.
TARGET_FIELDS: dict[str, tuple[set[str], set[str]]] = {  # type -> (required, allowed)
    "directory": ({"path"}, {"path"}),
    "git": (set(), {"repository", "branch"}),
    "http": ({"url"}, {"url", "token_env"}),
}


def git_branch_name(branch: str) -> str:
    if ".." in branch or branch.endswith((".lock", ".")):  # what git check-ref-format refuses
        raise ValueError("branch expected a git branch name (no '..', not ending .lock or .)")
    return branch


class Target(Strict):
    type: TargetType = "directory"
    path: str | None = Field(default=None, description="directory: the folder of the bundles")
    url: str | None = Field(default=None, description="http: the registry's base URL")
    repository: str | None = Field(
        default=None, description="git: a path or URL; default this repository"
    )
    branch: str = Field(default=DEFAULT_BRANCH, pattern=BRANCH_PATTERN, description="git")
    token_env: str | None = Field(
        default=None,
        pattern=ENV_VAR_PATTERN,
        description="http: the environment variable holding the bearer token",
    )

    @field_validator("branch")
    @classmethod
    def _git_ref_name(cls, branch: str) -> str:
        return git_branch_name(branch)

    @model_validator(mode="after")
    def _settings_of_its_type(self) -> Target:
        required, allowed = TARGET_FIELDS[self.type]
        given = {name for name in self.model_fields_set if name != "type"}
        missing = sorted(name for name in required if not getattr(self, name))
        if missing:
            raise ValueError(f"{self.type} target expects {', '.join(missing)}")
        foreign = sorted(given - allowed)
        if foreign:
            raise ValueError(
                f"{', '.join(foreign)} is not a setting of a {self.type} target; "
                f"expected only {', '.join(sorted(allowed))}"
            )
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("url expected to start with http:// or https://")
        return self


class Drift(Strict):
    mode: Literal["fail", "warn"] = Field(
        default="fail", description="fail: alm drift exits 3; warn: it reports and exits 0"
    )
    ignore: list[Annotated[str, Field(pattern=DRIFT_PATH_PATTERN)]] = Field(
        default_factory=list,
        description="paths into the bundle not compared, e.g. content.model.params.temperature"
        " (* matches one key)",
    )


class Audit(Strict):
    """Where an environment's audit log lives (docs/deploy.md "Where the audit log lives")."""

    store: Literal["local", "git"] = Field(
        default="local",
        description="local: .alm/audit/<env>.jsonl in the checkout; git: <env>.jsonl on a "
        "branch, pushed to origin (a GitHub-hosted runner's disk does not last)",
    )
    branch: str = Field(
        default=DEFAULT_AUDIT_BRANCH, pattern=BRANCH_PATTERN, description="git: the branch"
    )
    repository: str | None = Field(
        default=None, description="git: a path or URL; default this repository"
    )

    @field_validator("branch")
    @classmethod
    def _git_ref_name(cls, branch: str) -> str:
        return git_branch_name(branch)

    @model_validator(mode="after")
    def _git_settings_for_git(self) -> Audit:
        foreign = sorted(self.model_fields_set & {"branch", "repository"})
        if self.store != "git" and foreign:
            raise ValueError(f"{', '.join(foreign)} is a setting of the git audit store only")
        return self


class Gates(Strict):
    evals_pass: bool = True
    previous_environment: bool = Field(
        default=True, description="deploy here only after the previous environment is healthy"
    )
    approvals: list[str] = Field(default_factory=list)
    soak_minutes: int = Field(default=0, ge=0)


class Operate(Strict):
    """How alm ops judges production traffic in this environment (docs/ops.md)."""

    min_samples: int = Field(
        default=30, ge=1, description="tasks an agent needs in the window before a breach counts"
    )
    window_hours: float = Field(
        default=24, gt=0, allow_inf_nan=False, description="the window alm ops check reads"
    )
    canary_min_samples: int = Field(
        default=50, ge=1, description="canary tasks needed before alm ops promote-canary promotes"
    )


class Environment(Strict):
    name: Name
    description: str = ""
    target: Target
    gates: Gates = Field(default_factory=Gates)
    rollback_on_failure: bool = Field(
        default=False, description="an agent whose apply fails is rolled back at once"
    )
    on_breach: Literal["issue", "rollback"] = Field(
        default="issue",
        description="what alm ops check does when a live agent breaches its contract: issue "
        "(open or update the breach issue) or rollback (also roll the agent back, audited)",
    )
    operate: Operate = Field(default_factory=Operate)
    drift: Drift = Field(default_factory=Drift)
    audit: Audit = Field(default_factory=Audit)


class Environments(Document):
    kind: Literal["Environments"]
    environments: list[Environment] = Field(min_length=1, description="in promotion order")

    @field_validator("environments")
    @classmethod
    def _unique(cls, envs: list[Environment]) -> list[Environment]:
        require_unique([e.name for e in envs], "environment names")
        return envs

    @property
    def order(self) -> list[str]:
        return [e.name for e in self.environments]


class PolicyMetadata(Strict):
    name: Name
    owners: list[str] = Field(default_factory=list)
    description: str = ""


class Match(Strict):
    kinds: list[Literal["Agent", "Change"]] = Field(
        default=["Agent"],
        description="Agent: evaluated per agent; Change: once per change, over its changed files",
    )
    environments: list[Name] = Field(default_factory=list, description="empty: all")
    labels: dict[str, str] = Field(default_factory=dict)

    def selects(self, labels: Mapping[str, str]) -> bool:
        """Whether an object with these labels carries every label asked for."""
        return all(labels.get(key) == value for key, value in self.labels.items())


class Validation(Strict):
    id: Name | None = None
    expression: NonEmpty = Field(description="CEL; true means the object complies")
    message: NonEmpty
    severity: Literal["error", "warn"] = "error"


class ApprovalRule(Strict):
    when: NonEmpty = Field(description="CEL; true means these approvals are required")
    from_: list[str] = Field(alias="from", min_length=1)
    reason: NonEmpty


class CostLimit(Strict):
    """How much one change may raise the projected monthly cost of each agent the policy
    matches (by match.labels; environments do not apply). Over either limit, the plan
    blocks. A new agent's rise is its whole monthly cost; the percentage applies only
    where the agent had a monthly cost above zero before the change."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [  # at least one limit, as _some_limit says (null is no limit)
                {"required": [name], "properties": {name: {"type": "number"}}}
                for name in ("max_monthly_increase_usd", "max_monthly_increase_pct")
            ]
        }
    )

    max_monthly_increase_usd: float | None = Field(
        default=None, ge=0, description="USD a month, at the agent's declared volume"
    )
    max_monthly_increase_pct: float | None = Field(
        default=None, ge=0, description="percent of the monthly cost before the change (25 = 25%)"
    )

    @model_validator(mode="after")
    def _some_limit(self) -> CostLimit:
        if self.max_monthly_increase_usd is None and self.max_monthly_increase_pct is None:
            raise ValueError(
                "cost expects max_monthly_increase_usd or max_monthly_increase_pct (or both)"
            )
        return self


class Policy(Document):
    kind: Literal["Policy"]
    metadata: PolicyMetadata
    match: Match = Field(default_factory=Match)
    validations: list[Validation] = Field(default_factory=list)
    approvals: list[ApprovalRule] = Field(default_factory=list)
    cost: CostLimit | None = Field(
        default=None, description="a limit on the rise of each matched agent's monthly cost"
    )


class ModelPrice(Strict):
    provider: NonEmpty
    name: NonEmpty
    input_usd_per_mtok: float = Field(ge=0)
    output_usd_per_mtok: float = Field(ge=0)
    cached_input_usd_per_mtok: float | None = Field(default=None, ge=0)


class Pricing(Document):
    kind: Literal["Pricing"]
    models: list[ModelPrice] = Field(min_length=1)
