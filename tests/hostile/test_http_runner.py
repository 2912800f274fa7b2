"""Classes 3 and 9: an http agent that drips bytes forever, or redirects elsewhere.

Real local HTTP servers. A redirect is never followed (to another origin or within the
same one): the trial is not run, with the reason, and the redirect's target is never
contacted. A dripping agent is stopped at limits.timeout_s for the whole request (not per
read), its connection is closed, and the run exits.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.gitrepo import GitRepo
from tests.hostile.agent_repo import eval_case, eval_case_process, set_runtime

FINAL = json.dumps({"type": "final", "output": "done", "outcome": "resolved"}).encode()
Respond = Callable[[BaseHTTPRequestHandler], None]


class Server:
    """A local HTTP server whose POST handler is `respond`; it records every path hit."""

    def __init__(self, respond: Respond) -> None:
        self.hits: list[str] = []
        self.gone = threading.Event()  # a dripping response found its client gone
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.hits.append(self.path)
                self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    respond(self)
                except OSError:
                    outer.gone.set()

            def do_GET(self) -> None:  # where a client following a 301/302/303 goes
                outer.hits.append(self.path)
                answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.http.server_address[1]}"

    def __enter__(self) -> Server:
        threading.Thread(target=self.http.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.shutdown()
        self.http.server_close()


def answer(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(FINAL)))
    handler.end_headers()
    handler.wfile.write(FINAL)


def redirect_to(location: str, status: int = 307) -> Respond:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        if handler.path == "/final":  # the same-origin target
            answer(handler)
            return
        handler.send_response(status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return respond


def drip_body(handler: BaseHTTPRequestHandler) -> None:
    """Headers at once, then one byte of a body that never ends, every 0.1 s."""
    handler.send_response(200)
    handler.send_header("Content-Length", "1000000")
    handler.end_headers()
    handler.wfile.flush()
    _drip(handler)


def drip_headers(handler: BaseHTTPRequestHandler) -> None:
    """A status line, then a header that never ends, one byte every 0.1 s."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
    _drip(handler)


def _drip(handler: BaseHTTPRequestHandler) -> None:
    deadline = time.monotonic() + 120  # the test server never outlives a broken test long
    while time.monotonic() < deadline:
        handler.wfile.write(b"x")
        handler.wfile.flush()
        time.sleep(0.1)


@contextmanager
def http_agent(repo: GitRepo, respond: Respond, timeout_s: float = 30) -> Iterator[Server]:
    with Server(respond) as server:
        set_runtime(repo, f"{{type: http, url: '{server.origin}/agent'}}", timeout_s)
        yield server


# --- redirects -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_is_not_followed(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path, status: int
) -> None:
    with Server(answer) as elsewhere:
        target = f"{elsewhere.origin}/steal"
        with http_agent(fleet_repo, redirect_to(target, status)) as agent:
            code, output, cases = eval_case(fleet_repo, capsys, tmp_path / "r.json")
        assert elsewhere.hits == []  # the other origin was never contacted
    assert agent.hits == ["/agent"]
    assert code == 1 and "Traceback" not in output
    (case,) = cases
    assert case["status"] == "not_run"
    port = elsewhere.origin.rsplit(":", 1)[1]
    assert case["reason"] == (
        f"the agent answered HTTP {status}, a redirect to another origin ('127.0.0.1':{port}); "
        "alm does not follow redirects (set runtime.url to the address that answers)"
    )


def test_a_redirect_within_the_same_origin_is_refused_too(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with http_agent(fleet_repo, redirect_to("/final")) as agent:
        code, _, cases = eval_case(fleet_repo, capsys, tmp_path / "r.json")
    assert agent.hits == ["/agent"]  # /final would have answered; it was not asked
    assert code == 1
    assert cases[0]["status"] == "not_run"
    assert "a redirect within the same origin; alm does not follow" in cases[0]["reason"]


def test_a_redirect_carrying_credentials_does_not_echo_them(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with http_agent(fleet_repo, redirect_to("http://user:hunter2@evil.invalid:81/x")):
        code, output, cases = eval_case(fleet_repo, capsys, tmp_path / "r.json")
    assert code == 1 and "hunter2" not in output and "hunter2" not in json.dumps(cases)
    assert "another origin ('evil.invalid':81)" in cases[0]["reason"]


def test_an_agent_that_answers_is_still_run(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The control: the same server without a redirect is graded (so the above is the
    redirect's doing)."""
    with http_agent(fleet_repo, answer) as agent:
        _, _, cases = eval_case(fleet_repo, capsys, tmp_path / "r.json")
    assert agent.hits == ["/agent"] and cases[0]["status"] in ("passed", "failed")


# --- dripping --------------------------------------------------------------------------


def test_an_agent_dripping_its_headers_is_stopped_at_the_timeout(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with http_agent(fleet_repo, drip_headers, timeout_s=1) as agent:
        code, output, cases = eval_case(fleet_repo, capsys, tmp_path / "r.json")
        assert agent.gone.wait(30), "the dripping connection was never closed"
    assert code == 1 and "Traceback" not in output
    assert cases[0]["status"] == "not_run"
    assert cases[0]["reason"] == "timed out after 1 s (limits.timeout_s)"


def test_an_agent_dripping_its_body_forever_is_stopped_and_the_run_exits(
    fleet_repo: GitRepo, tmp_path: Path
) -> None:
    """In a real process: a worker thread still reading would keep it from exiting."""
    out = tmp_path / "r.json"
    with http_agent(fleet_repo, drip_body, timeout_s=1) as agent:
        done = eval_case_process(fleet_repo, out)
        assert agent.gone.wait(30), "the dripping connection was never closed"
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    (case,) = json.loads(out.read_text("utf-8"))["cases"]
    assert case["status"] == "not_run"
    assert case["reason"] == "timed out after 1 s (limits.timeout_s)"
