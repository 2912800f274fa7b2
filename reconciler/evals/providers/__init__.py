"""Model providers for the builtin runner: live ones by name, cassettes around them.

``Providers`` builds the provider of each agent for a run mode. In ``replay`` mode no live
client is ever created, so no key is needed. Live providers are created once per name
and shared by every agent (one connection pool), wrapped by ``wrap`` (the engine's rate
limit and retries), and only then recorded by the cassette layer, so a retried call is
stored once.

In ``record`` mode, ``ALM_CASSETTE_PROVENANCE`` (a JSON object) adds fields to every
cassette's provenance, so a recorder can say what really produced the answers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from reconciler.evals.providers.openai_provider import BASE_URL_VARIABLES, OpenAIProvider
from reconciler.evals.providers.replay import MODES, CassetteStore, Mode, ReplayProvider
from reconciler.evals.types import Provider, ProviderError

PROVENANCE_VARIABLE = "ALM_CASSETTE_PROVENANCE"


class LiveKind(NamedTuple):
    """One live provider: how to build it from the environment, and the cheap parts."""

    create: Callable[[Mapping[str, str]], Provider]
    # what create needs from the environment (a key): ProviderError when it is missing,
    # with create's own message; no import, no client
    check: Callable[[Mapping[str, str]], object]
    # what create imports, run ahead of the calls (a prewarmed worker)
    preload: Callable[[], None]
    # where create's calls go, from the environment: a live answer is reused from the
    # result cache only for the same endpoint
    endpoint: Callable[[Mapping[str, str]], str]


LIVE_PROVIDERS: dict[str, LiveKind] = {
    "openai": LiveKind(
        OpenAIProvider.from_env,
        OpenAIProvider.check_env,
        OpenAIProvider.preload,
        OpenAIProvider.endpoint,
    ),
}

__all__ = [
    "LIVE_PROVIDERS",
    "MODES",
    "CassetteStore",
    "Mode",
    "OpenAIProvider",
    "Providers",
    "ReplayProvider",
    "check_live",
    "live_endpoint",
    "live_provider",
    "preload_live",
]


def preload_live() -> None:
    """Imports every live provider's client, so that the first call does not wait on it."""
    for kind in LIVE_PROVIDERS.values():
        kind.preload()


def live_provider(name: str, env: Mapping[str, str] | None = None) -> Provider:
    return _live_kind(name).create(os.environ if env is None else env)


def check_live(name: str, env: Mapping[str, str] | None = None) -> None:
    """What ``live_provider`` would raise for want of the environment (no key), without
    importing or building its client."""
    _live_kind(name).check(os.environ if env is None else env)


def live_endpoint(name: str, env: Mapping[str, str] | None = None) -> str:
    """Where the live provider ``name`` would send calls (its base URL, or "default")."""
    return _live_kind(name).endpoint(os.environ if env is None else env)


# What else a provider's name covers: a gateway or local server speaking its API.
_REACHES = {"openai": f" (any OpenAI-compatible endpoint: set {BASE_URL_VARIABLES[0]})"}


def _live_kind(name: str) -> LiveKind:
    kind = LIVE_PROVIDERS.get(name)
    if kind is None:
        known = ", ".join(f"{n}{_REACHES.get(n, '')}" for n in sorted(LIVE_PROVIDERS))
        raise ProviderError(f"no live model provider named {name!r}; known: {known}")
    return kind


def extra_provenance(env: Mapping[str, str]) -> dict[str, Any]:
    """The JSON object in ALM_CASSETTE_PROVENANCE (none: empty)."""
    text = env.get(PROVENANCE_VARIABLE)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ProviderError(f"{PROVENANCE_VARIABLE}: not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProviderError(f"{PROVENANCE_VARIABLE}: expected a JSON object")
    return value


class Providers:
    """The providers of one run: a mode, the environment, and a wrapper for live calls."""

    def __init__(
        self,
        mode: Mode = "replay",
        env: Mapping[str, str] | None = None,
        wrap: Callable[[Provider], Provider] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ProviderError(f"unknown provider mode {mode!r}; expected one of {MODES}")
        self.mode = mode
        self._env = os.environ if env is None else env
        self._wrap = wrap
        self._live: dict[str, Provider] = {}

    def for_agent(self, provider_name: str, cassette_dir: Path) -> Provider:
        """The provider for an agent whose model.provider is ``provider_name``."""
        if self.mode == "replay":
            return ReplayProvider(CassetteStore(cassette_dir), "replay")
        live = self.live(provider_name)
        if self.mode == "live":
            return live
        endpoint = "custom" if any(self._env.get(v) for v in BASE_URL_VARIABLES) else "default"
        return ReplayProvider(
            CassetteStore(cassette_dir),
            "record",
            live,
            endpoint=endpoint,
            extra_provenance=extra_provenance(self._env),
        )

    def live(self, name: str) -> Provider:
        provider = self._live.get(name)
        if provider is None:
            provider = live_provider(name, self._env)
            if self._wrap is not None:
                provider = self._wrap(provider)
            self._live[name] = provider
        return provider

    async def aclose(self) -> None:
        """Close live clients (their connection pools)."""
        for provider in self._live.values():
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()
        self._live.clear()
