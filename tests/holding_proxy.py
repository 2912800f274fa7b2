"""A real HTTP proxy in front of a real registry that holds one chosen PUT: before
forwarding it (the write has not happened) or after the registry answered (the write
happened, the client has not heard). A test kills the client while it waits, at a point
it knows exactly, with nothing in alm told about it. It can also refuse (422) the PUTs
whose body holds given bytes, as a registry with its own admission policy would."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

When = Literal["before", "after"]
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class HoldingProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, hold_put: int, when: When) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.hold_put, self.when = hold_put, when
        self.puts = 0
        self.count_lock = threading.Lock()
        self.holding = threading.Event()  # set while the chosen PUT is held
        self.release = threading.Event()
        self.deliver_held = True  # False: a PUT held before forwarding is dropped
        self.reject: bytes | None = None  # a PUT whose body holds this is refused (422)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def is_held(self, method: str) -> bool:
        if method != "PUT":
            return False
        with self.count_lock:
            self.puts += 1
            return self.puts == self.hold_put

    def hold(self) -> None:
        self.holding.set()
        self.release.wait(timeout=120)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HoldingProxy

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._forward("GET")

    def do_PUT(self) -> None:
        self._forward("PUT")

    def do_DELETE(self) -> None:
        self._forward("DELETE")

    def _forward(self, method: str) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size) if size else None
        if method == "PUT" and self.server.reject and body and self.server.reject in body:
            self._answer(422, {}, b'{"error": "refused by the registry\'s policy"}')
            return
        held = self.server.is_held(method)
        if held and self.server.when == "before":
            self.server.hold()
            if not self.server.deliver_held:
                self.close_connection = True
                return
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        upstream.request(method, self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        upstream.close()
        if held and self.server.when == "after":
            self.server.hold()
        self._answer(answer.status, dict(answer.getheaders()), data)

    def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in HOP_HEADERS:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client was killed while its request was held


@contextmanager
def holding_proxy(upstream: str, hold_put: int, when: When) -> Iterator[HoldingProxy]:
    proxy = HoldingProxy(upstream, hold_put, when)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.release.set()
        proxy.shutdown()
        proxy.server_close()
