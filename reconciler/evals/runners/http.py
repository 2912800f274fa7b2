"""The http runner: alm.agent/v1 over HTTP.

Each alm message is POSTed as JSON to the agent's ``runtime.url``; the response body is
the agent's next message. Every message of a trial carries the same ``session`` id (also
sent as the ``ALM-Session`` header) so the agent can keep per-trial state. A non-2xx
status, a body that is not a JSON object, a refused connection or the timeout end the
trial with stop_reason error or timeout (not run, never a pass).

The agent is untrusted, so:

- The deadline is the trial's ``limits.timeout_s`` for the whole trial, every request
  included, not a timeout per read: an agent that sends its headers and then one byte a
  second is stopped there. Each request runs on a worker thread with the standard library
  client; at the deadline the event loop shuts the request's socket down, so the thread
  ends too and the run can exit.
- Redirects are never followed, to another origin or within the same one: a 3xx answer
  ends the trial with the reason. Following one would send the case's input and tool
  results wherever the answer points (a redirect from an agent named in a pull request
  is attacker-controlled), and a POST redirect is ambiguous anyway; set ``runtime.url``
  to the address that answers.
- Proxy settings from the environment are not used: the request goes to ``runtime.url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import json
import socket
import ssl
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import SplitResult, urljoin, urlsplit

from reconciler.evals.runners.base import AgentProtocolError, run_bounded
from reconciler.evals.runners.command import parse_message
from reconciler.evals.runners.protocol import Conversation, Message
from reconciler.evals.types import CaseJob, Trajectory

MAX_BODY_BYTES = 16 * 1024 * 1024
SESSION_HEADER = "ALM-Session"
MAX_THREADS = 64  # the default executor has only cpu + 4 threads: too few for --concurrency
_DEFAULT_PORTS = {"http": 80, "https": 443}


@functools.cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="alm-http-agent")


@functools.cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def parse_url(url: str) -> SplitResult:
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise AgentProtocolError(f"runtime.url expected http:// or https://, found {url!r}")
    try:
        parts.port  # noqa: B018 -- raises on a port that is not a number in range
    except ValueError:
        raise AgentProtocolError(f"runtime.url has a bad port: {url!r}") from None
    return parts


def origin(parts: SplitResult) -> tuple[str, str, int]:
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)


class HttpRunner:
    def __init__(self, url: str, headers: Mapping[str, str] | None = None) -> None:
        self.target = parse_url(url)
        self.url = url
        self.headers = dict(headers or {})

    async def run(self, job: CaseJob) -> Trajectory:
        return await run_bounded(job, lambda trajectory: self._trial(job, trajectory))

    async def _trial(self, job: CaseJob, trajectory: Trajectory) -> None:
        transport = HttpTransport(self.url, uuid.uuid4().hex, job.agent.limits.timeout_s)
        transport.headers.update(self.headers)
        await Conversation(job, transport, trajectory).run()


class HttpTransport:
    def __init__(self, url: str, session: str, timeout_s: float) -> None:
        self.target = parse_url(url)
        self.session = session
        self.timeout_s = timeout_s
        self.headers = {"Content-Type": "application/json", SESSION_HEADER: session}
        self.exchanges = 0

    async def send(self, message: Message) -> Message:
        body = json.dumps({**message, "session": self.session}, ensure_ascii=False).encode()
        self.exchanges += 1
        exchange = Exchange(self.target, self.timeout_s)
        loop = asyncio.get_running_loop()
        pending = loop.run_in_executor(_executor(), exchange.post, body, dict(self.headers))
        try:
            raw = await pending
        except asyncio.CancelledError:  # the trial's deadline (or Ctrl-C): end the request
            exchange.abort()
            raise
        return parse_message(raw, f"the response to message {self.exchanges}")


class Exchange:
    """One POST on its own connection. abort(), from any thread, ends it at once: a read
    blocked on a dripping agent returns when its socket is shut down."""

    def __init__(self, target: SplitResult, timeout_s: float) -> None:
        self.target = target
        self.timeout_s = timeout_s  # per blocking call: a backstop, abort() is the deadline
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._aborted = False

    def post(self, body: bytes, headers: dict[str, str]) -> bytes:
        conn = self._connection()
        try:
            conn.connect()
            self._attach(conn.sock)
            conn.request("POST", _request_target(self.target), body=body, headers=headers)
            return self._body(conn.getresponse())
        except (http.client.HTTPException, OSError) as exc:
            if self._aborted:
                raise AgentProtocolError("the request was stopped at the deadline") from None
            raise AgentProtocolError(f"cannot reach the agent: {exc}") from None
        finally:
            conn.close()

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _connection(self) -> http.client.HTTPConnection:
        host, port = self.target.hostname or "", self.target.port
        if self.target.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self.timeout_s, context=_tls())
        return http.client.HTTPConnection(host, port, timeout=self.timeout_s)

    def _attach(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            aborted = self._aborted
        if aborted:  # the deadline passed while connecting
            raise OSError("aborted")

    def _body(self, response: http.client.HTTPResponse) -> bytes:
        if 300 <= response.status < 400:
            raise AgentProtocolError(self._redirect(response))
        if not 200 <= response.status < 300:
            reason = "".join(c for c in response.reason[:100] if c.isprintable())
            raise AgentProtocolError(f"the agent answered HTTP {response.status} {reason}")
        data = response.read(MAX_BODY_BYTES + 1)
        if len(data) > MAX_BODY_BYTES:
            raise AgentProtocolError("the agent's response is too large")
        return data

    def _redirect(self, response: http.client.HTTPResponse) -> str:
        location = response.getheader("Location") or ""
        try:
            to = urlsplit(urljoin(self.target.geturl(), location))
            scheme, host, port = origin(to)
            same = (scheme, host, port) == origin(self.target)
        except ValueError:
            same, host, port = False, "an unreadable address", 0
        where = "within the same origin" if same else f"to another origin ({host[:100]!r}:{port})"
        return (
            f"the agent answered HTTP {response.status}, a redirect {where}; alm does not "
            "follow redirects (set runtime.url to the address that answers)"
        )


def _request_target(target: SplitResult) -> str:
    path = target.path or "/"
    return f"{path}?{target.query}" if target.query else path
