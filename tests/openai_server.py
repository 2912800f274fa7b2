"""A local OpenAI-compatible server for tests and benchmarks: real HTTP on 127.0.0.1.

Serves POST /v1/chat/completions with scripted answers: the n-th assistant turn of a
conversation (n = assistant messages already in the request) gets ``steps[n]``, either
``{"tool_calls": [{"name": ..., "arguments": {...}}]}`` or ``{"content": "..."}``. It can
wait a fixed latency before answering and inject failures (429 with Retry-After, 500).

In a thread: ``with OpenAIServer(steps) as server: server.base_url``.
In another process: ``python -m tests.openai_server --latency 0.1 --steps JSON`` prints
``PORT <n>`` on its first line and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

Step = dict[str, Any]
Responder = Callable[[dict[str, Any]], Step]
FINAL: Step = {"content": "done"}


def scripted(steps: list[Step]) -> Responder:
    def respond(body: dict[str, Any]) -> Step:
        turn = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
        return steps[turn] if turn < len(steps) else FINAL

    return respond


def completion(body: dict[str, Any], step: Step) -> dict[str, Any]:
    turn = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
    message: dict[str, Any] = {"role": "assistant", "content": step.get("content")}
    calls = step.get("tool_calls") or []
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{turn}_{i}",
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))},
            }
            for i, c in enumerate(calls)
        ]
    prompt_tokens = len(json.dumps(body.get("messages", []))) // 4
    return {
        "id": f"chatcmpl-{turn}",
        "object": "chat.completion",
        "created": 1700000000,
        "model": body.get("model", "unknown"),
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 20,
            "total_tokens": prompt_tokens + 20,
        },
    }


class OpenAIServer:
    """An asyncio HTTP/1.1 server (keep-alive) on its own event loop, in a thread or not."""

    def __init__(
        self,
        steps: list[Step] | Responder | None = None,
        latency_s: float = 0.0,
        keep_requests: bool = True,  # off for benchmarks: a growing heap slows the server
        stamp: Path | None = None,
    ):
        self.keep_requests = keep_requests
        self.stamp = stamp  # when it is missing, a request writes its wall time there
        self.respond: Responder = steps if callable(steps) else scripted(steps or [])
        self.latency_s = latency_s
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.arrivals: list[float] = []  # time.monotonic() of each request (the loop's clock)
        self.in_flight = 0
        self.max_in_flight = 0
        self._failures: list[tuple[int, str | None]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=512)
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        """The next ``times`` requests are answered with ``status`` (and Retry-After)."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * times)

    def start(self) -> OpenAIServer:
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._loop.run_forever()

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                arrived = asyncio.get_running_loop().time()
                if self.stamp is not None and not self.stamp.exists():
                    self.stamp.write_text(repr(time.time()), "utf-8")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = dict(_header(line) for line in lines[1:] if ":" in line)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                answer = self._answer(path, json.loads(body or b"{}"), headers, arrived)
                writer.write(await answer)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(
        self, path: str, body: dict[str, Any], headers: dict[str, str], arrived: float
    ) -> bytes:
        with self._lock:
            if self.keep_requests:
                self.requests.append(body)
                self.headers.append(headers)
                self.arrivals.append(arrived)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            status, retry_after = self._failures.pop(0) if self._failures else (200, None)
        try:
            if self.latency_s:  # from the request's arrival: the same latency under load
                await asyncio.sleep(arrived + self.latency_s - asyncio.get_running_loop().time())
            if not path.endswith("/chat/completions"):
                return _response(404, {"error": {"message": "not found"}})
            if status != 200:
                error = {"error": {"message": f"injected {status}", "type": "test"}}
                return _response(status, error, retry_after)
            return _response(200, completion(body, self.respond(body)))
        finally:
            with self._lock:
                self.in_flight -= 1


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip().lower(), value.strip()


def _response(status: int, payload: Any, retry_after: str | None = None) -> bytes:
    data = json.dumps(payload).encode()
    head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Content-Type: application/json"]
    head.append(f"Content-Length: {len(data)}")
    if retry_after is not None:
        head.append(f"Retry-After: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--steps", default="[]", help="JSON list of scripted steps")
    parser.add_argument("--stamp", type=Path, help="the first request's time.time() goes here")
    args = parser.parse_args()
    steps = json.loads(args.steps)
    server = OpenAIServer(steps, latency_s=args.latency, keep_requests=False, stamp=args.stamp)
    sys.stdout.write(f"PORT {server.port}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
