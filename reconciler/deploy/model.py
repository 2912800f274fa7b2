"""The deploy stage's vocabulary: bundles, what a target holds, plans and audit records.

A bundle is the deployable form of one agent for one environment (DESIGN.md,
"Deployment"): `revision` is `sha256:` + the hash of its canonical content (`content`:
the resolved spec with the prompt text, tool definitions from the catalog, the pinned
model, the rollout, the A2A agent card). `deployment` (who, when, from which commit and
pull request), `pin` (a rollback that sticks) and `promotion` (a canary given all
traffic) are outside the hash: they describe this deployment, not the agent.

Targets hold bundles; what alm reads back from one is a `Live` entry: the bundle as
stored, the target's version tag of it (an ETag, a git blob id, a file digest) and
whether its content still hashes to its revision (a bundle edited in place under an
unchanged revision is drift).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

API_VERSION: Literal["alm/v1"] = "alm/v1"
KIND: Literal["AgentBundle"] = "AgentBundle"


def canonical_json(value: Any) -> bytes:
    """The bytes a revision hashes: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def revision_of(content: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(content)).hexdigest()


def short_revision(revision: str | None) -> str:
    """``sha256:`` and 12 hex digits: enough to tell revisions apart in a message."""
    if revision is None:
        return "-"
    return revision[:19] if revision.startswith("sha256:") else revision[:12]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Deployment(_Model):
    """Who deployed this bundle, when, and from what: outside the revision's hash."""

    at: str  # ISO 8601, UTC
    by: str  # the actor: a GitHub login, or the git user
    commit: str | None = None
    ref: str | None = None
    pull_request: int | None = None
    approved_by: list[str] = Field(default_factory=list)
    merged_by: str | None = None


class Pin(_Model):
    """A rollback that sticks: apply leaves this agent alone until the pin is lifted
    (`alm unpin`, or the desired revision becomes the pinned one, e.g. a merged revert)."""

    revision: str
    at: str
    by: str
    reason: str = ""


class CanaryPromotion(_Model):
    """A canary promoted to all traffic (`alm ops promote-canary`): the same agent, so
    outside the revision's hash; a new revision is a new canary and carries none."""

    traffic_percent: int = Field(default=100, ge=1, le=100)
    at: str
    by: str
    reason: str = ""


class Bundle(_Model):
    api_version: Literal["alm/v1"] = Field(default=API_VERSION, alias="apiVersion")
    kind: Literal["AgentBundle"] = KIND
    agent: str
    environment: str
    revision: str  # revision_of(content)
    content: dict[str, Any]  # spec, prompt, tools, model, rollout, agent_card
    deployment: Deployment | None = None
    pin: Pin | None = None
    promotion: CanaryPromotion | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def intact(self) -> bool:
        """Its content still hashes to its revision (not edited in place)."""
        return revision_of(self.content) == self.revision

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=2, sort_keys=True)


@dataclass(frozen=True)
class Live:
    """One agent as a target holds it."""

    bundle: Bundle
    version: str  # the target's tag for precondition writes: ETag, blob id, digest


@dataclass(frozen=True)
class Unreadable:
    """What a target holds under an agent's name that is not that agent's alm/v1
    AgentBundle for this environment (a truncated write, a foreign document, another
    agent's bundle). It is drift, never a reason to stop: status shows it OutOfSync,
    apply writes the desired bundle over it (conditional on `version`, audited), and a
    name the fleet does not have is deleted only with --prune."""

    agent: str  # the name it is stored under
    version: str  # the target's tag of its bytes, for the conditional overwrite or delete
    where: str  # the file, branch path or URL, for messages
    reason: str  # what is wrong: "not an alm/v1 AgentBundle (agent: Field required)"

    def words(self) -> str:
        return f"{self.where}: {self.reason}"


def revision_held(entry: Live | Unreadable | None) -> str | None:
    """The revision a target entry holds: None when absent or unreadable."""
    return entry.bundle.revision if isinstance(entry, Live) else None


@dataclass(frozen=True)
class Scan:
    """Everything a target holds: readable bundles, and the entries that are not."""

    lives: dict[str, Live] = field(default_factory=dict)
    unreadable: dict[str, Unreadable] = field(default_factory=dict)

    def entries(self) -> dict[str, Live | Unreadable]:
        return {**self.lives, **self.unreadable}


@dataclass(frozen=True)
class HistoryEntry:
    revision: str
    at: str | None = None
    by: str | None = None
    bundle: Bundle | None = None  # the bundle as written, when the target keeps it (rollback)
    deleted: bool = False  # the agent was deleted; revision is the one removed


class Conflict(Exception):
    """A precondition failed: someone else changed the agent since it was read."""

    def __init__(self, agent: str, detail: str = "") -> None:
        super().__init__(f"{agent}: changed on the target since it was read{detail}")
        self.agent = agent


class Target(Protocol):
    """Where an environment's bundles live. `put` and `delete` are conditional: `expected`
    is the entry the plan read (None: the agent must not exist yet); a mismatch raises
    Conflict, never overwrites blindly. `scan` and `entry` are the one way the deploy
    commands read a target: an entry that is not a bundle comes back `Unreadable`."""

    name: str  # for messages: "directory .alm/deployments/dev"

    def read_all(self) -> dict[str, Live]: ...  # raises on an Unreadable entry

    def read(self, agent: str) -> Live | None: ...  # raises on an Unreadable entry

    def scan(self) -> Scan: ...  # every entry; an unreadable one is listed, not raised

    def entry(self, agent: str) -> Live | Unreadable | None: ...

    def put(self, bundle: Bundle, expected: Live | Unreadable | None) -> Live: ...

    def delete(self, agent: str, expected: Live | Unreadable) -> None: ...

    def history(self, agent: str) -> list[HistoryEntry]: ...


ActionKind = Literal["create", "update", "repair", "unchanged", "delete", "pinned", "held"]


@dataclass(frozen=True)
class Action:
    """One agent's step in a plan. repair: the live bundle's content no longer matches its
    revision (edited in place); pinned: left alone by a rollback pin; held: its revision
    has not passed the previous environment yet (promotion order)."""

    kind: ActionKind
    agent: str
    before: str | None  # the live revision
    after: str | None  # the desired revision
    reason: str = ""
    bundle: Bundle | None = None  # what to write, for create/update/repair


@dataclass(frozen=True)
class DeployPlan:
    environment: str
    actions: tuple[Action, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def changes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.kind in ("create", "update", "repair", "delete"))

    @property
    def empty(self) -> bool:
        return not self.changes
