"""The reference registry: the HTTP registry protocol of DESIGN.md over a folder.

`alm registry serve --dir D --port P [--token-env V]` runs it (docs/registry-protocol.md).
Storage is the directory target's store, one folder per environment
(`D/<env>/<agent>.json`, atomic writes, `.history/`): the ETag of a bundle is the sha256
of its stored bytes, and a PUT or DELETE is applied only if its precondition holds under
the store's lock. Names in the path are checked against the spec's name pattern before
any file is named from them, so no request reaches outside D. Bodies are bounded and
must be intact AgentBundles for the agent and environment of the URL.
"""

from __future__ import annotations

import hmac
import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler.deploy.model import Conflict
from reconciler.deploy.targets.common import (
    MAX_BUNDLE_BYTES,
    bundle_bytes,
    history_record,
    parse_bundle,
    valid_name,
)
from reconciler.deploy.targets.directory import DirectoryStore
from reconciler.errors import AlmError

PREFIX = ("v1", "environments")


class Refused(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def etag_of(version: str) -> str:
    return f'"{version}"'


def version_of(etag: str) -> str:
    tag = etag.strip()
    tag = tag[2:] if tag.startswith("W/") else tag
    return tag.strip('"')


class Registry:
    """The folders of every environment; one store (and lock) per environment."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._stores: dict[str, DirectoryStore] = {}
        self._lock = threading.Lock()

    def store(self, env: str) -> DirectoryStore:
        with self._lock:
            if env not in self._stores:
                self._stores[env] = DirectoryStore(self.root / env)
            return self._stores[env]


class RegistryServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], registry: Registry, token: str | None) -> None:
        super().__init__(address, Handler)
        self.registry = registry
        self.token = token

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (reset, broken pipe, timed out) is not a
        server error: no traceback. Anything else is reported as socketserver does."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


def make_server(root: Path, host: str, port: int, token: str | None) -> RegistryServer:
    root.mkdir(parents=True, exist_ok=True)
    return RegistryServer((host, port), Registry(root), token or None)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client writes 1,000 bundles on one socket
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms stall
    server: RegistryServer
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a request log would be noise, and headers carry the token."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        try:
            self._authorize()
            env, rest = self._route()
            store = self.server.registry.store(env)
            route = ROUTES.get((method, len(rest), rest[-1] if len(rest) == 2 else ""))
            if route is None:
                raise Refused(HTTPStatus.NOT_FOUND, f"no {method} {self.path}")
            route(self, store, env, rest)
        except Refused as exc:
            self._error(exc.status, str(exc))
        except Conflict as exc:
            self._error(HTTPStatus.PRECONDITION_FAILED, str(exc))
        except (AlmError, OSError) as exc:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, str(exc))

    def _authorize(self) -> None:
        token = self.server.token
        if token is None:
            return
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise Refused(HTTPStatus.UNAUTHORIZED, "a valid bearer token is required")

    def _route(self) -> tuple[str, list[str]]:
        """/v1/environments/{env}/agents[/{name}[/history]] -> (env, [name?, history?])."""
        parts = urlsplit(self.path).path.strip("/").split("/")
        if len(parts) < 4 or tuple(parts[:2]) != PREFIX or parts[3] != "agents":
            raise Refused(HTTPStatus.NOT_FOUND, f"no such resource {self.path}")
        env, rest = parts[2], parts[4:]
        if not valid_name(env) or (rest and not valid_name(rest[0])) or len(rest) > 2:
            raise Refused(HTTPStatus.BAD_REQUEST, "environment and agent names: a-z, 0-9, -")
        return env, rest

    # --- the resources ---------------------------------------------------------------
    def list_agents(self, store: DirectoryStore, env: str, rest: list[str]) -> None:
        agents = []
        for name in store.agents():
            found = store.current(name)
            if found is not None:
                revision = _revision(found[0])
                agents.append({"name": name, "revision": revision, "etag": etag_of(found[1])})
        self._json(HTTPStatus.OK, {"agents": agents})

    def get_agent(self, store: DirectoryStore, env: str, rest: list[str]) -> None:
        found = store.current(rest[0])
        if found is None:
            raise Refused(HTTPStatus.NOT_FOUND, f"agent {rest[0]} is not in {env}")
        self._send(HTTPStatus.OK, found[0], {"ETag": etag_of(found[1])})

    def history(self, store: DirectoryStore, env: str, rest: list[str]) -> None:
        entries = store.history(rest[0])
        revisions = [
            {
                "revision": e.revision,
                "at": e.at,
                "by": e.by,
                "deleted": e.deleted,
                "bundle": e.bundle.model_dump(mode="json", by_alias=True) if e.bundle else None,
            }
            for e in entries
        ]
        self._json(HTTPStatus.OK, {"revisions": revisions})

    def put_agent(self, store: DirectoryStore, env: str, rest: list[str]) -> None:
        expected = self._precondition()
        try:
            bundle = parse_bundle(self._body(), "the request body")
        except AlmError as exc:
            raise Refused(HTTPStatus.BAD_REQUEST, str(exc)) from None
        if (bundle.agent, bundle.environment) != (rest[0], env):
            wanted = f"agent {rest[0]} and environment {env}, as in the URL"
            raise Refused(HTTPStatus.BAD_REQUEST, f"the bundle expected {wanted}")
        if not bundle.intact:
            wanted = "content that hashes to its revision"
            raise Refused(HTTPStatus.UNPROCESSABLE_ENTITY, f"the bundle expected {wanted}")
        version = store.put(rest[0], bundle_bytes(bundle), expected, history_record(bundle))
        status = HTTPStatus.CREATED if expected is None else HTTPStatus.OK
        body = {"name": rest[0], "revision": bundle.revision, "etag": etag_of(version)}
        self._json(status, body, {"ETag": etag_of(version)})

    def delete_agent(self, store: DirectoryStore, env: str, rest: list[str]) -> None:
        expected = self._if_match()
        found = store.current(rest[0])
        if found is None:
            raise Refused(HTTPStatus.NOT_FOUND, f"agent {rest[0]} is not in {env}")
        try:
            record = history_record(parse_bundle(found[0], f"{env}/{rest[0]}"), deleted=True)
        except AlmError:  # not a bundle (a torn or foreign file): deleted, nothing to restore
            record = None
        store.delete(rest[0], expected, record)
        self._send(HTTPStatus.NO_CONTENT, b"", {})

    # --- HTTP details ----------------------------------------------------------------
    def _precondition(self) -> str | None:
        """The version the client read (If-Match), or None to create (If-None-Match: *)."""
        if_match = self.headers.get("If-Match")
        if if_match is not None:
            return version_of(if_match)
        if self.headers.get("If-None-Match", "").strip() == "*":
            return None
        raise Refused(HTTPStatus.PRECONDITION_REQUIRED, "a PUT needs If-Match or If-None-Match: *")

    def _if_match(self) -> str:
        if_match = self.headers.get("If-Match")
        if if_match is None:
            raise Refused(HTTPStatus.PRECONDITION_REQUIRED, "a DELETE needs If-Match")
        return version_of(if_match)

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise Refused(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
        if int(length) > MAX_BUNDLE_BYTES:
            self.close_connection = True  # the unread body must not be taken as a request
            raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "a bundle is at most 4 MiB")
        return self.rfile.read(int(length))

    def _json(
        self, status: HTTPStatus, body: object, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body, sort_keys=True).encode()
        self._send(status, data, {"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: HTTPStatus, message: str) -> None:
        if status == HTTPStatus.UNAUTHORIZED:
            self._json(status, {"error": message}, {"WWW-Authenticate": "Bearer"})
        else:
            self._json(status, {"error": message})

    def _send(self, status: HTTPStatus, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)


def _revision(data: bytes) -> str | None:
    try:
        revision = json.loads(data).get("revision")
    except (ValueError, AttributeError):
        return None
    return revision if isinstance(revision, str) else None


# (method, segments after /agents, last segment if two) -> the handler
ROUTES = {
    ("GET", 0, ""): Handler.list_agents,
    ("GET", 1, ""): Handler.get_agent,
    ("GET", 2, "history"): Handler.history,
    ("PUT", 1, ""): Handler.put_agent,
    ("DELETE", 1, ""): Handler.delete_agent,
}
