"""What GitHub Actions tells a job, read from its environment (pure: a mapping in).

The event payload is read bounded and as untrusted JSON. The token is kept in the
context only to build the client; it is never part of any message (`repr` hides it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler.errors import AlmError, UsageError
from reconciler.evals import safejson
from reconciler.fsutil import read_limited

PUBLIC_API = "https://api.github.com"
PUBLIC_SERVER = "https://github.com"
MAX_EVENT_BYTES = 25 << 20  # GitHub caps webhook payloads at 25 MB
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")

JSON = dict[str, Any]


@dataclass(frozen=True)
class Context:
    event_name: str
    event: JSON
    repository: str  # owner/name
    token: str = field(repr=False)
    api_url: str = PUBLIC_API
    server_url: str = PUBLIC_SERVER
    run_id: str | None = None

    @property
    def run_url(self) -> str | None:
        if not self.run_id:
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"


def _required(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise UsageError(f"{name} is not set; expected {what} (set by GitHub Actions)")
    return value


def _base_url(env: Mapping[str, str], name: str, default: str) -> str:
    """An http(s) URL with a host (GitHub's own when unset), without a trailing slash."""
    value = (env.get(name) or "").strip() or default
    if not _is_base_url(value):
        # the value is not echoed: a URL with user:password@ would print a credential
        raise UsageError(
            f"{name} is not an http(s) URL with a host and no user or password; "
            f"expected one such as {default} (set by GitHub Actions)"
        )
    return value.rstrip("/")


def _is_base_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        host, _port = parts.hostname, parts.port
    except ValueError:  # a malformed port or IPv6 address
        return False
    credentials = parts.username is not None or parts.password is not None
    return parts.scheme in ("http", "https") and bool(host) and not credentials


def read_event(path: str | None) -> JSON:
    """The webhook payload GitHub wrote for this run; {} without GITHUB_EVENT_PATH."""
    if not path:
        return {}
    data = read_limited(Path(path), MAX_EVENT_BYTES, "the event payload (JSON)")
    try:
        value = safejson.loads(data)
    except safejson.JsonRefused as exc:
        raise AlmError(exc.at(path)) from None
    if not isinstance(value, dict):
        raise AlmError(f"{path}: expected a JSON object (a webhook payload)")
    return value


def from_env(env: Mapping[str, str]) -> Context:
    token = _required(env, "GITHUB_TOKEN", "a token that may write pull request comments")
    repository = _required(env, "GITHUB_REPOSITORY", "owner/name of the repository")
    if not _REPOSITORY.fullmatch(repository):
        raise UsageError(f"GITHUB_REPOSITORY={repository!r}; expected owner/name")
    return Context(
        event_name=env.get("GITHUB_EVENT_NAME", "").strip(),
        event=read_event(env.get("GITHUB_EVENT_PATH")),
        repository=repository,
        token=token,
        api_url=_base_url(env, "GITHUB_API_URL", PUBLIC_API),
        server_url=_base_url(env, "GITHUB_SERVER_URL", PUBLIC_SERVER),
        run_id=env.get("GITHUB_RUN_ID") or None,
    )
