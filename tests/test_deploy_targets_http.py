"""The http target against the reference registry, run for real: 5xx retried (also when
the write landed and only its answer was lost), 412 a Conflict, the token never shown;
and the registry's refusals (auth, names, preconditions, bodies)."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import pytest

from reconciler.deploy.model import Conflict
from reconciler.deploy.registry_server import Handler, Registry, RegistryServer
from reconciler.deploy.targets.common import bundle_bytes
from reconciler.deploy.targets.http import HttpTarget, Retry, open_http
from reconciler.errors import AlmError
from reconciler.spec.catalog import Environment
from tests.registry_support import make_bundle, running_registry

FAST = Retry(attempts=4, backoff_s=0.01, cap_s=0.02)


class Faults:
    def __init__(self) -> None:
        self.before = 0  # answer 503 to the next N writes without doing them
        self.after = 0  # do the next N writes, then answer 500 (the answer is lost)
        self.seen = 0


class FaultyHandler(Handler):
    def do_PUT(self) -> None:
        faults: Faults = self.server.faults  # type: ignore[attr-defined]
        faults.seen += 1
        if faults.before:
            faults.before -= 1
            self.rfile.read(int(self.headers["Content-Length"]))
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, "busy")
            return
        if faults.after:
            faults.after -= 1
            self._send = lambda *a, **k: Handler._error(  # type: ignore[method-assign]
                self, HTTPStatus.INTERNAL_SERVER_ERROR, "lost"
            )
            self._serve("PUT")
            return
        self._serve("PUT")


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[tuple[str, Faults]]:
    server = RegistryServer(("127.0.0.1", 0), Registry(tmp_path), None)
    server.RequestHandlerClass = FaultyHandler
    server.faults = Faults()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url, server.faults  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_a_5xx_is_retried_and_the_write_lands_once(faulty: tuple[str, Faults]) -> None:
    url, faults = faulty
    target = HttpTarget(url, "prod", None, FAST)
    faults.before = 2
    live = target.put(make_bundle("one", "prod"), None)
    assert faults.seen == 3 and target.read("one") == live
    assert len(target.history("one")) == 1


def test_a_lost_answer_to_a_write_that_landed_is_not_a_conflict(
    faulty: tuple[str, Faults],
) -> None:
    url, faults = faulty
    target = HttpTarget(url, "prod", None, FAST)
    faults.after = 1  # the PUT is stored, its 201 replaced by a 500
    bundle = make_bundle("one", "prod")
    live = target.put(bundle, None)  # the retry meets 412; the read-back shows it is ours
    assert live.bundle == bundle and faults.seen == 2


def test_a_registry_that_keeps_failing_is_an_error_after_capped_tries(
    faulty: tuple[str, Faults],
) -> None:
    url, faults = faulty
    faults.before = 10
    with pytest.raises(AlmError, match="after 4 tries: 503 busy"):
        HttpTarget(url, "prod", None, FAST).put(make_bundle("one", "prod"), None)
    assert faults.seen == 4


def test_412_is_a_conflict_and_the_newer_bundle_stays(tmp_path: Path) -> None:
    with running_registry(tmp_path) as url:
        one, two = HttpTarget(url, "prod", None), HttpTarget(url, "prod", None)
        read = one.put(make_bundle("one", "prod", v=1), None)
        newer = two.put(make_bundle("one", "prod", v=2), read)
        with pytest.raises(Conflict, match="412"):
            one.put(make_bundle("one", "prod", v=3), read)
        assert one.read("one") == newer


def test_the_token_is_sent_and_never_shown(tmp_path: Path) -> None:
    env = Environment.model_validate(
        {"name": "prod", "target": {"type": "http", "url": "http://x", "token_env": "TOK"}}
    )
    with pytest.raises(AlmError, match="TOK") as missing:
        open_http(env, tmp_path, {})
    assert "not set" in str(missing.value)
    with running_registry(tmp_path, token="right-token") as url:
        good = HttpTarget(url, "prod", "right-token")
        good.put(make_bundle("one", "prod"), None)
        with pytest.raises(AlmError) as refused:
            HttpTarget(url, "prod", "wrong-token-value").read_all()
        assert "401" in str(refused.value) and "wrong-token-value" not in str(refused.value)
        assert "right-token" not in good.name


def _request(url: str, method: str, path: str, body: bytes | None = None, **headers: str):  # type: ignore[no-untyped-def]
    host = url.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=10)
    conn.request(method, path, body=body, headers=headers)
    answer = conn.getresponse()
    data = answer.read()
    conn.close()
    return answer.status, data


def _too_large(url: str, path: str, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
    conn.putrequest("PUT", path)
    for name, value in {**headers, "Content-Length": str(5 << 20)}.items():
        conn.putheader(name, value)
    conn.endheaders()  # the body is never sent: the registry answers on the length alone
    status = conn.getresponse().status
    conn.close()
    return status


def test_the_registry_refuses_what_it_must(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (tmp_path / "secret.json").write_text("{}")
    with running_registry(store, token="tkn") as url:
        base = "/v1/environments/prod/agents"
        auth = {"Authorization": "Bearer tkn"}
        assert _request(url, "GET", base)[0] == 401
        assert _request(url, "GET", base, **auth) == (200, b'{"agents": []}')
        for path in ("/v1/environments/../agents/secret", f"{base}/..%2Fsecret", f"{base}/A"):
            assert _request(url, "GET", path, **auth)[0] in (400, 404)
        good = bundle_bytes(make_bundle("one", "prod"))
        assert _request(url, "PUT", f"{base}/one", good, **auth)[0] == 428
        create = {**auth, "If-None-Match": "*"}
        assert _request(url, "PUT", f"{base}/one", b"[1]", **create)[0] == 400
        assert _request(url, "PUT", f"{base}/two", good, **create)[0] == 400  # URL's agent
        tampered = json.loads(good)
        tampered["content"]["model"]["name"] = "other"
        body = json.dumps(tampered).encode()
        assert _request(url, "PUT", f"{base}/one", body, **create)[0] == 422
        assert _too_large(url, f"{base}/one", create) == 413  # refused before reading it
        status, _ = _request(url, "PUT", f"{base}/one", good, **create)
        assert status == 201
        assert _request(url, "DELETE", f"{base}/one", **auth)[0] == 428
    assert sorted(p.name for p in store.rglob("*.json")) == ["one.json"]
