"""Shared pieces of every document model."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.spec import saferegex

API_VERSION = "alm/v1"

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
TOOL_NAME_PATTERN = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"
GRANT_NAME_PATTERN = r"^[a-z][a-z0-9_]*\.([a-z][a-z0-9_]*|\*)$"
OWNER_RE = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:/[A-Za-z0-9._-]+)?$")

Name = Annotated[str, Field(pattern=NAME_PATTERN, description="lowercase letters, digits, -")]
ToolName = Annotated[str, Field(pattern=TOOL_NAME_PATTERN, description="system.action")]
GrantName = Annotated[
    str, Field(pattern=GRANT_NAME_PATTERN, description="system.action, or system.* (wildcard)")
]
NonEmpty = Annotated[str, Field(min_length=1)]


# Patterns from the repository run on RE2 (linear time); see reconciler.spec.saferegex.
Regex = saferegex.Regex


class Strict(BaseModel):
    """Unknown fields are errors: a typo in a safety setting must never be ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Document(Strict):
    api_version: Literal["alm/v1"] = Field(alias="apiVersion")


def require_unique(names: list[str], what: str) -> None:
    """Raise a validation error naming every repeated entry."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for name in names:
        (repeated if name in seen else seen).add(name)
    if repeated:
        raise ValueError(f"{what} must be unique; repeated: {', '.join(sorted(repeated))}")
