"""The http target: a registry that speaks the protocol of DESIGN.md
(docs/registry-protocol.md), over one kept-alive connection.

Every write carries a precondition: `If-None-Match: *` to create, `If-Match: <etag>`
(the ETag alm read) to replace or delete; 412 is a Conflict, never retried blindly.
A 5xx or a dropped connection is retried with capped exponential backoff. A retried
write that then meets 412 (or a retried delete 404) may be our own first attempt that
succeeded before its answer was lost: alm reads the agent back and counts the write
done only when the registry holds exactly what was sent. The bearer token comes from
the variable named in `token_env` and is never put in a message.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from reconciler.deploy.model import Bundle, Conflict, HistoryEntry, Live, Scan, Unreadable
from reconciler.deploy.targets import BatchResult, Write, write_each
from reconciler.deploy.targets.common import (
    MAX_BUNDLE_BYTES,
    bundle_bytes,
    checked_name,
    entry_of,
    history_entry,
    scan_of,
    strict,
    strict_all,
    valid_name,
)
from reconciler.errors import AlmError
from reconciler.spec.catalog import Environment

MAX_LIST_BYTES = 64 << 20
_TRANSIENT = (OSError, http.client.HTTPException)


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    retried: bool  # an earlier attempt of this request may have reached the registry

    def message(self) -> str:
        try:
            error = json.loads(self.body).get("error")
        except (ValueError, AttributeError):
            error = None
        return f"{self.status} {error if isinstance(error, str) else ''}".strip()[:300]


@dataclass(frozen=True)
class Retry:
    attempts: int = 5
    backoff_s: float = 0.1
    cap_s: float = 2.0

    def delay(self, attempt: int) -> float:
        return float(min(self.cap_s, self.backoff_s * 2**attempt))


class HttpTarget:
    def __init__(
        self, url: str, environment: str, token: str | None, retry: Retry = Retry()
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AlmError(f"http target url {url!r} expected http(s)://host[:port][/path]")
        self.parts = parts
        self.base = f"{parts.path.rstrip('/')}/v1/environments/{environment}/agents"
        self.environment = environment
        self.name = f"http {parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.retry = retry
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    # --- the wire --------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            host, port = self.parts.hostname or "", self.parts.port
            if self.parts.scheme == "https":
                ctx = ssl.create_default_context()
                self._conn = http.client.HTTPSConnection(host, port, timeout=30, context=ctx)
            else:
                self._conn = http.client.HTTPConnection(host, port, timeout=30)
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _once(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> Response:
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers={**self._headers, **headers})
            answer = conn.getresponse()
            data = answer.read(MAX_LIST_BYTES + 1)
        except _TRANSIENT:
            self._close()
            raise
        if len(data) > MAX_LIST_BYTES or answer.will_close:
            self._close()
        names = {k.lower(): v for k, v in answer.getheaders()}
        return Response(answer.status, names, data[:MAX_LIST_BYTES], retried=False)

    def _call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        last = ""
        with self._lock:
            for attempt in range(self.retry.attempts):
                if attempt:
                    time.sleep(self.retry.delay(attempt - 1))
                try:
                    response = self._once(method, path, body, headers or {})
                except _TRANSIENT as exc:
                    last = f"connection failed ({type(exc).__name__})"
                    continue
                if response.status < 500:
                    return Response(response.status, response.headers, response.body, attempt > 0)
                last = response.message()
        raise AlmError(
            f"{self.name}: {method} {path} failed after {self.retry.attempts} tries: {last}"
        )

    def _refused(self, response: Response, what: str) -> AlmError:
        if response.status in (401, 403):
            return AlmError(
                f"{self.name}: {what}: the registry refused the credentials "
                f"({response.status}); check the token in target.token_env"
            )
        return AlmError(f"{self.name}: {what}: {response.message()}")

    def _path(self, agent: str) -> str:
        return f"{self.base}/{checked_name(agent)}"

    # --- reading ---------------------------------------------------------------------
    def entry(self, agent: str) -> Live | Unreadable | None:
        response = self._call("GET", self._path(agent))
        if response.status == 404:
            return None
        if response.status != 200:
            raise self._refused(response, f"GET {agent}")
        etag = response.headers.get("etag")
        if not etag:
            raise AlmError(f"{self.name}: GET {agent}: the answer has no ETag")
        where = f"{self.parts.scheme}://{self.parts.netloc}{self._path(agent)}"
        return entry_of(agent, self.environment, response.body, etag, where)

    def read(self, agent: str) -> Live | None:
        return strict(self.entry(agent))

    def _json(self, path: str, key: str) -> list[Any]:
        response = self._call("GET", path)
        if response.status != 200:
            raise self._refused(response, f"GET {path}")
        try:
            items = json.loads(response.body)[key]
        except (ValueError, KeyError, TypeError):
            items = None
        if not isinstance(items, list):
            raise AlmError(f"{self.name}: GET {path}: expected a JSON object with a list {key}")
        return items

    def scan(self) -> Scan:
        items = self._json(self.base, "agents")
        # a name that is no agent's is never put in a URL (as the other targets skip it)
        names = {n for i in items if isinstance(i, dict) and _agent_name(n := i.get("name"))}
        return scan_of(self.entry(name) for name in sorted(names))

    def read_all(self) -> dict[str, Live]:
        return strict_all(self.scan())

    def history(self, agent: str) -> list[HistoryEntry]:
        items = self._json(f"{self._path(agent)}/history", "revisions")
        entries = (history_entry(item) for item in items if isinstance(item, dict))
        return [entry for entry in entries if entry is not None]

    # --- writing ---------------------------------------------------------------------
    def _ours(self, bundle: Bundle) -> Live | None:
        """The registry's entry when it holds exactly `bundle` (a lost answer to our write)."""
        live = self.entry(bundle.agent)
        return live if isinstance(live, Live) and live.bundle == bundle else None

    def put(self, bundle: Bundle, expected: Live | Unreadable | None) -> Live:
        if bundle.environment != self.environment:
            raise AlmError(
                f"{bundle.agent}: a bundle for {bundle.environment!r} cannot go "
                f"to the {self.environment!r} target"
            )
        data = bundle_bytes(bundle)
        if len(data) > MAX_BUNDLE_BYTES:
            raise AlmError(f"{bundle.agent}: the bundle is larger than 4 MiB")
        condition = {"If-Match": expected.version} if expected else {"If-None-Match": "*"}
        headers = {"Content-Type": "application/json", **condition}
        response = self._call("PUT", self._path(bundle.agent), data, headers)
        if response.status in (200, 201) and response.headers.get("etag"):
            return Live(bundle=bundle, version=response.headers["etag"])
        if response.status == 412:
            ours = self._ours(bundle) if response.retried else None
            if ours is not None:
                return ours
            raise Conflict(bundle.agent, f" ({self.name} answered 412)")
        raise self._refused(response, f"PUT {bundle.agent}")

    def delete(self, agent: str, expected: Live | Unreadable) -> None:
        response = self._call("DELETE", self._path(agent), None, {"If-Match": expected.version})
        if response.status in (200, 204) or (response.status == 404 and response.retried):
            return
        if response.status in (404, 412):
            raise Conflict(agent, f" ({self.name} answered {response.status})")
        raise self._refused(response, f"DELETE {agent}")

    def write_many(self, writes: Sequence[Write]) -> BatchResult:
        return write_each(self, writes)


def _agent_name(name: object) -> TypeGuard[str]:
    return isinstance(name, str) and valid_name(name)


def open_http(env: Environment, root: Path, env_vars: Mapping[str, str]) -> HttpTarget:
    token: str | None = None
    if env.target.token_env:
        token = env_vars.get(env.target.token_env)
        if not token:
            raise AlmError(
                f"environment {env.name}: the variable {env.target.token_env} "
                "(target.token_env) is not set; it holds the registry's token"
            )
    assert env.target.url is not None  # the spec requires it for an http target
    return HttpTarget(env.target.url, env.name, token)
