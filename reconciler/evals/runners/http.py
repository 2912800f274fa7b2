"""The http runner: alm.agent/v1 over HTTP.

Each alm message is POSTed as JSON to the agent's ``runtime.url``; the response body is
the agent's next message. Every message of a trial carries the same ``session`` id (also
sent as the ``ALM-Session`` header) so the agent can keep per-trial state. A non-2xx
status, a body that is not a JSON object, a refused connection or the timeout end the
trial with stop_reason error or timeout. The standard library client runs in a pool of
worker threads, so no extra dependency is needed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from reconciler.evals.runners.base import AgentProtocolError, run_bounded
from reconciler.evals.runners.command import parse_message
from reconciler.evals.runners.protocol import Conversation, Message
from reconciler.evals.types import CaseJob, Trajectory

MAX_BODY_BYTES = 16 * 1024 * 1024
SESSION_HEADER = "ALM-Session"
MAX_THREADS = 64  # the default executor has only cpu + 4 threads: too few for --concurrency


@functools.cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="alm-http-agent")


class HttpRunner:
    def __init__(self, url: str, headers: Mapping[str, str] | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise AgentProtocolError(f"runtime.url expected http:// or https://, found {url!r}")
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
        self.url = url
        self.session = session
        self.timeout_s = timeout_s
        self.headers = {"Content-Type": "application/json", SESSION_HEADER: session}
        self.exchanges = 0

    async def send(self, message: Message) -> Message:
        body = json.dumps({**message, "session": self.session}, ensure_ascii=False).encode()
        self.exchanges += 1
        raw = await asyncio.get_running_loop().run_in_executor(_executor(), self._post, body)
        return parse_message(raw, f"the response to message {self.exchanges}")

    def _post(self, body: bytes) -> bytes:
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                data: bytes = response.read(MAX_BODY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise AgentProtocolError(f"the agent answered HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise AgentProtocolError(f"cannot reach the agent: {exc}") from None
        if len(data) > MAX_BODY_BYTES:
            raise AgentProtocolError("the agent's response is too large")
        return data
