"""The EvalSuite document: cases with inputs, tool fixtures and expectations."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from reconciler.spec.base import Document, Name, NonEmpty, Regex, Strict, ToolName, require_unique


class SuiteMetadata(Strict):
    name: Name
    agent: Name | None = Field(default=None, description="defaults to the folder name")
    description: str = ""


class CaseInput(Strict):
    message: NonEmpty
    context: dict[str, Any] = Field(default_factory=dict)


class Fixture(Strict):
    """What a tool returns when called with arguments matching `args` (subset match)."""

    tool: ToolName
    args: dict[str, Any] = Field(default_factory=dict)
    returns: Any = None
    error: str | None = None


class ExpectedCall(Strict):
    tool: ToolName
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="a value may be a literal, {regex: ...} or {one_of: [...]}",
    )
    match: Literal["exact", "subset"] = "subset"


class OutputCheck(Strict):
    contains: list[str] = Field(default_factory=list)
    not_contains: list[str] = Field(default_factory=list)
    regex: list[Regex] = Field(default_factory=list)
    json_schema: dict[str, Any] | None = None


class Expect(Strict):
    outcome: Literal["resolved", "escalated", "refused"] | None = None
    tool_calls: list[ExpectedCall] = Field(default_factory=list)
    forbid_tool_calls: list[ToolName] = Field(default_factory=list)
    output: OutputCheck | None = None
    max_steps: int | None = Field(default=None, gt=0)
    max_cost_usd: float | None = Field(default=None, gt=0)


class Case(Strict):
    id: Name
    description: str = ""
    tags: list[Name] = Field(default_factory=list)
    repeats: int | None = Field(default=None, ge=1, le=50)
    input: CaseInput
    fixtures: list[Fixture] = Field(default_factory=list)
    expect: Expect

    @model_validator(mode="after")
    def _fixture_is_one_of(self) -> Case:
        for fixture in self.fixtures:
            if fixture.error is not None and fixture.returns is not None:
                raise ValueError(f"fixture for {fixture.tool} expects returns or error, not both")
        return self


class SuiteDefaults(Strict):
    repeats: int = Field(default=1, ge=1, le=50)
    tags: list[Name] = Field(default_factory=list)


class EvalSuite(Document):
    kind: Literal["EvalSuite"]
    metadata: SuiteMetadata
    defaults: SuiteDefaults = Field(default_factory=SuiteDefaults)
    cases: list[Case] = Field(min_length=1)

    @field_validator("cases")
    @classmethod
    def _unique_ids(cls, cases: list[Case]) -> list[Case]:
        require_unique([c.id for c in cases], "case ids in a suite")
        return cases
