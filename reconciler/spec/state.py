"""The loaded desired state: models plus where each came from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from reconciler.errors import Finding, Location
from reconciler.spec.agent import Agent
from reconciler.spec.catalog import Environments, Policy, Pricing, Tool, ToolCatalog
from reconciler.spec.yamlsafe import Document

if TYPE_CHECKING:  # imported with the first suite read (loader): alm apply reads none
    from reconciler.spec.evalsuite import EvalSuite

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Loaded(Generic[M]):
    """A model and the YAML document it was read from (for file:line:col)."""

    model: M
    doc: Document

    @property
    def file(self) -> str:
        return self.doc.file

    def at(self, *loc: Any, prefer_key: bool = False) -> Location:
        return self.doc.location(loc, prefer_key)


@dataclass(frozen=True)
class PromptFile:
    path: str
    text: str

    @property
    def version(self) -> str:
        """The prompt's version is the hash of its content."""
        return "sha256:" + hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AgentSpec:
    loaded: Loaded[Agent]
    folder: str
    prompt: PromptFile | None

    @property
    def agent(self) -> Agent:
        return self.loaded.model

    @property
    def name(self) -> str:
        return self.loaded.model.metadata.name


@dataclass
class DesiredState:
    label: str
    agents: list[AgentSpec] = field(default_factory=list)
    catalogs: list[Loaded[ToolCatalog]] = field(default_factory=list)
    environments: list[Loaded[Environments]] = field(default_factory=list)
    policies: list[Loaded[Policy]] = field(default_factory=list)
    pricing: list[Loaded[Pricing]] = field(default_factory=list)
    suites: dict[str, list[Loaded[EvalSuite]]] = field(default_factory=dict)
    eval_folders: set[str] = field(default_factory=set)
    agent_folders: set[str] = field(default_factory=set)  # holding an agent.yaml, valid or not
    findings: list[Finding] = field(default_factory=list)
    # where each name is first in `agents`; rebuilt when the list's length changes or an
    # indexed place holds another name (the loader only appends)
    _by_name: tuple[int, dict[str, int]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def agent(self, name: str) -> AgentSpec | None:
        """The first agent of that name. Indexed: diffing two fleets asks for every
        agent by name, and a scan made that quadratic (0.25 s at 1,000 agents)."""
        found = self._indexed(name)
        if found is None or found.name != name:  # the list changed under the index
            self._by_name = None
            found = self._indexed(name)
        return found

    def _indexed(self, name: str) -> AgentSpec | None:
        if self._by_name is None or self._by_name[0] != len(self.agents):
            first: dict[str, int] = {}
            for i, spec in enumerate(self.agents):
                first.setdefault(spec.name, i)
            self._by_name = (len(self.agents), first)
        index = self._by_name[1].get(name)
        return None if index is None else self.agents[index]

    @property
    def tools(self) -> dict[str, Tool]:
        """The catalog, merged over every ToolCatalog document (first definition wins)."""
        merged: dict[str, Tool] = {}
        for catalog in self.catalogs:
            for tool in catalog.model.tools:
                merged.setdefault(tool.name, tool)
        return merged

    @property
    def environment_order(self) -> list[str]:
        return self.environments[0].model.order if self.environments else []

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]
