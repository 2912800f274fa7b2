from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.evals.providers import CassetteStore, OpenAIProvider, Providers, ReplayProvider
from reconciler.evals.providers.openai_provider import retry_after_s
from reconciler.evals.providers.replay import CassetteMismatch, InvalidCassette
from reconciler.evals.types import ChatRequest, ChatResponse, NotRecorded, ProviderError
from reconciler.pricing import TokenUsage
from tests.openai_server import OpenAIServer, Step

KEY = "sk-test-secret-0123456789"
TOOL = {
    "type": "function",
    "function": {"name": "kb__search", "parameters": {"type": "object", "properties": {}}},
}


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    steps: list[Step] = [
        {"tool_calls": [{"name": "kb__search", "arguments": {"q": "x"}}]},
        {"content": "hi"},
    ]
    with OpenAIServer(steps) as running:
        yield running


def env(server: OpenAIServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "ALM_OPENAI_BASE_URL": server.base_url}


def request(**changes: object) -> ChatRequest:
    fields: dict[str, object] = {
        "provider": "openai",
        "model": "gpt-4.1-mini",
        "messages": ({"role": "system", "content": "s"}, {"role": "user", "content": "u"}),
        "tools": (TOOL,),
        "params": {"temperature": 0, "seed": 7},
    }
    fields.update(changes)
    return ChatRequest(**fields)  # type: ignore[arg-type]


def test_openai_client_against_a_local_server(server: OpenAIServer) -> None:
    provider = OpenAIProvider.from_env(env(server))
    response = asyncio.run(provider.complete(request()))
    calls = response.message["tool_calls"]
    assert response.message["role"] == "assistant"
    assert calls[0]["function"] == {"name": "kb__search", "arguments": '{"q": "x"}'}
    assert response.usage.output_tokens == 20 and response.usage.input_tokens > 0
    assert response.finish_reason == "tool_calls" and response.latency_s > 0
    sent = server.requests[0]
    assert sent["model"] == "gpt-4.1-mini" and sent["temperature"] == 0 and sent["seed"] == 7
    assert sent["tools"] == [TOOL]
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"


def test_status_codes_map_to_retryable_errors(server: OpenAIServer) -> None:
    provider = OpenAIProvider.from_env(env(server))
    server.fail_next(429, retry_after="2")
    server.fail_next(503)
    server.fail_next(400)

    async def three() -> list[ProviderError]:
        errors = []
        for _ in range(3):
            with pytest.raises(ProviderError) as caught:
                await provider.complete(request())
            errors.append(caught.value)
        return errors

    rate, unavailable, bad = asyncio.run(three())
    assert rate.retryable and rate.retry_after == 2.0 and "429" in rate.message
    assert unavailable.retryable and unavailable.retry_after is None
    assert not bad.retryable and "400" in bad.message
    assert len(server.requests) == 3  # the client itself never retried
    assert all(KEY not in e.message for e in (rate, unavailable, bad))


def test_connection_refused_is_retryable() -> None:
    provider = OpenAIProvider.from_env(
        {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    )
    with pytest.raises(ProviderError) as caught:
        asyncio.run(provider.complete(request()))
    assert caught.value.retryable


def test_retry_after_forms() -> None:
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert retry_after_s({"retry-after": "3"}) == 3.0
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({}) is None


def test_a_missing_key_is_a_clear_error() -> None:
    with pytest.raises(ProviderError, match="OPENAI_API_KEY"):
        OpenAIProvider.from_env({})


def test_cassette_key_changes_with_everything_that_changes_the_answer() -> None:
    base = request().key()
    assert request().key() == base
    assert request(params={"temperature": 0.7, "seed": 7}).key() != base
    assert request(tools=()).key() != base
    assert request(messages=({"role": "user", "content": "other"},)).key() != base
    assert request(model="gpt-4o-mini").key() != base
    assert request(tool_choice="required").key() != base
    assert request(provider="other").key() == base  # where it came from does not change it


def test_replay_miss_is_not_recorded(tmp_path: Path) -> None:
    provider = ReplayProvider(CassetteStore(tmp_path), "replay")
    with pytest.raises(NotRecorded) as caught:
        asyncio.run(provider.complete(request()))
    assert caught.value.key == request().key() and not caught.value.retryable


def test_record_writes_a_cassette_that_replay_reads(server: OpenAIServer, tmp_path: Path) -> None:
    cassettes = tmp_path / "evals" / "triage" / "cassettes"
    providers = Providers("record", env=env(server))
    recorder = providers.for_agent("openai", cassettes)
    recorded = asyncio.run(recorder.complete(request()))
    path = cassettes / f"{request().key()}.json"
    document = json.loads(path.read_text())
    assert document["provenance"]["mode"] == "record"
    assert document["provenance"]["provider"] == "openai"
    assert document["provenance"]["endpoint"] == "custom"
    assert document["provenance"]["model"] == "gpt-4.1-mini"
    assert document["request"]["tools"] == ["kb__search"]
    assert "127.0.0.1" not in path.read_text() and KEY not in path.read_text()

    replayer = Providers("replay", env={}).for_agent("openai", cassettes)
    replayed = asyncio.run(replayer.complete(request()))
    assert replayed.message == recorded.message and replayed.usage == recorded.usage
    assert replayed.latency_s == pytest.approx(recorded.latency_s, abs=1e-3)
    assert len(server.requests) == 1  # replay made no call


def test_replay_needs_no_key_and_live_does(tmp_path: Path) -> None:
    assert Providers("replay", env={}).for_agent("openai", tmp_path).name == "replay"
    with pytest.raises(ProviderError, match="OPENAI_API_KEY"):
        Providers("live", env={}).for_agent("openai", tmp_path)
    with pytest.raises(ProviderError, match="no live model provider"):
        Providers("live", env={"OPENAI_API_KEY": KEY}).for_agent("acme-llm", tmp_path)


def test_live_mode_calls_without_writing(server: OpenAIServer, tmp_path: Path) -> None:
    provider = Providers("live", env=env(server)).for_agent("openai", tmp_path)
    asyncio.run(provider.complete(request()))
    assert list(tmp_path.iterdir()) == [] and len(server.requests) == 1


def test_a_malformed_cassette_is_an_error(tmp_path: Path) -> None:
    (tmp_path / f"{request().key()}.json").write_text('{"format": "other"}')
    with pytest.raises(ProviderError, match="invalid cassette"):
        asyncio.run(ReplayProvider(CassetteStore(tmp_path)).complete(request()))


def test_record_adds_provenance_from_the_environment(server: OpenAIServer, tmp_path: Path) -> None:
    extra = {"produced_by": "a script", "model": "not this"}
    variables = {**env(server), "ALM_CASSETTE_PROVENANCE": json.dumps(extra)}
    recorder = Providers("record", env=variables).for_agent("openai", tmp_path)
    asyncio.run(recorder.complete(request()))
    provenance = json.loads((tmp_path / f"{request().key()}.json").read_text())["provenance"]
    assert provenance["produced_by"] == "a script"
    assert provenance["model"] == "gpt-4.1-mini"  # added fields never replace recorded ones


# --- cassettes as hostile data: any mutation is a valid recording or a clear refusal ------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_PATHS = [
    ("format",),
    ("key",),
    ("latency_s",),
    ("usage",),
    ("usage", "input_tokens"),
    ("response",),
    ("response", "message"),
    ("response", "message", "content"),
    ("response", "message", "tool_calls"),
    ("request",),
    ("request", "tools"),
    ("provenance",),
]


def _recorded(tmp_path: Path) -> Path:
    response = ChatResponse(
        message={
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "kb__search", "arguments": "{}"},
                }
            ],
        },
        usage=TokenUsage(10, 2),
        latency_s=0.5,
    )
    return CassetteStore(tmp_path).save(request(), response, {"mode": "record"})


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(where=st.sampled_from(_PATHS), value=_JSON, raw=st.binary(max_size=40))
def test_a_mutated_cassette_replays_or_is_refused_never_crashes(
    tmp_path: Path, where: tuple[str, ...], value: object, raw: bytes
) -> None:
    path = _recorded(tmp_path)
    document = json.loads(path.read_text("utf-8"))
    node = document
    for part in where[:-1]:
        node = node[part]
    node[where[-1]] = value
    text = json.dumps(document, allow_nan=True).encode()
    for content in (text, text[: len(raw)] + raw):
        path.write_bytes(content)
        try:
            response = CassetteStore(tmp_path).load(request())
        except (InvalidCassette, CassetteMismatch) as refused:
            assert refused.message.startswith(("invalid cassette ", "not recorded: cassette "))
            continue
        assert response is not None and response.message["role"] == "assistant"
        assert response.latency_s >= 0 and response.usage.input_tokens >= 0
