"""The CPU turn: calls run their CPU work one at a time, and overlap on the wire."""

from __future__ import annotations

import asyncio

import pytest

from reconciler.evals.providers import OpenAIProvider
from reconciler.evals.providers.turns import CpuTurn
from reconciler.evals.types import ChatRequest, ProviderError
from tests.openai_server import OpenAIServer

REQUEST = ChatRequest("openai", "gpt-4.1-mini", ({"role": "user", "content": "hi"},))


def provider(server: OpenAIServer) -> OpenAIProvider:
    env = {"OPENAI_API_KEY": "sk-test", "ALM_OPENAI_BASE_URL": server.base_url}
    return OpenAIProvider.from_env(env)


async def together(live: OpenAIProvider, count: int) -> list[object]:
    return await asyncio.gather(
        *(live.complete(REQUEST) for _ in range(count)), return_exceptions=True
    )


def test_calls_wait_on_the_wire_together() -> None:
    with OpenAIServer([], latency_s=0.2) as server:
        live = provider(server)
        answers = asyncio.run(together(live, 10))
    assert all(not isinstance(a, BaseException) for a in answers)
    assert server.max_in_flight == 10  # a turn held on the wire would make this 1


def test_failed_and_cancelled_calls_give_the_turn_back() -> None:
    with OpenAIServer([], latency_s=0.2) as server:
        live = provider(server)

        async def scenario() -> list[object]:
            server.fail_next(500)
            with pytest.raises(ProviderError):
                await live.complete(REQUEST)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(live.complete(REQUEST), 0.05)
            server.max_in_flight = 0
            return await asyncio.wait_for(together(live, 5), 5)

        answers = asyncio.run(scenario())
    assert all(not isinstance(a, BaseException) for a in answers)
    assert server.max_in_flight >= 5  # the abandoned call may still be on the server


def test_cpu_work_runs_first_come_first_served() -> None:
    turn = CpuTurn()
    give_up, take_back = (hooks[0] for hooks in turn.event_hooks().values())
    order: list[str] = []

    class Body:
        async def aread(self) -> bytes:
            await asyncio.sleep(0.01)
            return b""

    async def call(name: str) -> None:
        async with turn.held():
            order.append(f"{name} sends")
            await give_up(None)
            await take_back(Body())
            order.append(f"{name} parses")
            await asyncio.sleep(0)  # a step boundary: without the turn, others run here
            order.append(f"{name} answers")

    async def three() -> None:
        await asyncio.gather(call("a"), call("b"), call("c"))

    asyncio.run(asyncio.wait_for(three(), 5))
    assert order[:3] == ["a sends", "b sends", "c sends"]
    # each call's work after the answer is not interleaved with the others'
    assert order[3:] == [f"{n} {step}" for n in "abc" for step in ("parses", "answers")]


def test_a_cancelled_take_back_holds_nothing() -> None:
    turn = CpuTurn()
    give_up, take_back = (hooks[0] for hooks in turn.event_hooks().values())

    class Body:
        async def aread(self) -> bytes:
            return b""

    async def scenario() -> None:
        async def blocked() -> None:
            async with turn.held():
                await give_up(None)
                await take_back(Body())

        async with turn.held():  # the turn is busy, so `blocked` waits to take it back
            task = asyncio.create_task(blocked())
            await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        async with turn.held():  # free again: nobody left it held
            pass

    asyncio.run(asyncio.wait_for(scenario(), 2))
