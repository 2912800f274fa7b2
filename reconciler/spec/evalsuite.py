"""The EvalSuite document: cases with inputs, tool fixtures and expectations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from reconciler.spec import saferegex, safeschema
from reconciler.spec.base import Document, Name, NonEmpty, Regex, Strict, ToolName, require_unique
from reconciler.spec.safeschema import Path, raise_at


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
    latency_s: float = Field(
        default=0.0,
        ge=0.0,
        le=3600.0,
        allow_inf_nan=False,
        description="how long the real tool takes to answer; counted in the trial's latency",
    )


class ExpectedCall(Strict):
    tool: ToolName
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="a value may be a literal, {regex: ...} or {one_of: [...]}",
    )
    match: Literal["exact", "subset"] = "subset"

    @field_validator("args")
    @classmethod
    def _regexes_run(cls, args: dict[str, Any]) -> dict[str, Any]:
        raise_at([(path, saferegex.problem(p)) for path, p in regex_matchers(args)])
        return args


def regex_matchers(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """(path of the pattern, pattern) for each {regex: ...} matcher inside expected args."""
    if isinstance(value, dict):
        if len(value) == 1 and "regex" in value:
            yield (*path, "regex"), value["regex"]
            return
        for key, inner in value.items():
            yield from regex_matchers(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from regex_matchers(inner, (*path, i))


class OutputCheck(Strict):
    contains: list[str] = Field(default_factory=list)
    not_contains: list[str] = Field(default_factory=list)
    regex: list[Regex] = Field(default_factory=list)
    json_schema: dict[str, Any] | None = None

    @field_validator("json_schema")
    @classmethod
    def _schema_is_safe(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            safeschema.raise_problems(schema)  # each at its place: a $ref, a pattern...
        return schema


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
    # review state, not behaviour: excluded from dumps so that clearing it leaves the
    # case's hash (result cache, base/head pairing) as it was
    needs_review: bool = Field(
        default=False,
        exclude=True,
        description="set by `alm ops promote`: the case was made from a production trace and "
        "its expectations are not reviewed yet; alm validate reports it as an error until a "
        "person reviews the case and deletes this line",
    )

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
