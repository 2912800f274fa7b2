"""`alm registry serve` stops on SIGTERM, whatever the server is doing when it arrives."""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.cli import registry_cmd
from tests.registry_support import running_registry


def test_sigterm_is_not_an_exception_a_request_dispatch_could_swallow() -> None:
    # socketserver wraps each dispatch in `except Exception` and serves on: a stop signal
    # raised there must pass through, as KeyboardInterrupt does
    assert not issubclass(registry_cmd._Stop, Exception)
    assert issubclass(registry_cmd._Stop, BaseException)


def test_the_registry_stops_on_sigterm_while_it_is_busy(tmp_path: Path) -> None:
    """Requests keep coming on several connections while SIGTERM arrives; the process
    exits (running_registry waits for it, and fails after 30 s)."""
    stop = threading.Event()
    served: list[int] = []

    def hammer(url: str) -> None:
        where = urlsplit(url)
        while not stop.is_set():
            try:
                conn = http.client.HTTPConnection(where.hostname, where.port, timeout=5)
                conn.request("GET", "/v1/environments/prod/agents")
                served.append(conn.getresponse().status)
                conn.close()
            except OSError:
                return  # the server went away: what this test is waiting for

    for round_ in range(3):
        with running_registry(tmp_path / f"registry-{round_}") as url:
            workers = [threading.Thread(target=hammer, args=(url,)) for _ in range(4)]
            for worker in workers:
                worker.start()
            deadline = time.monotonic() + 10
            while len(served) < 20 * (round_ + 1) and time.monotonic() < deadline:
                time.sleep(0.01)
        stop.set()
        for worker in workers:
            worker.join(timeout=10)
        stop.clear()
    assert served and set(served) == {200}
