"""Model calls take turns on the CPU, and give the turn up while they wait on the network.

Why: the official client spends about 1 ms of CPU per call, spread over several steps of
the event loop. With many calls in flight, asyncio runs those steps round-robin, so every
call's CPU work finishes only when everybody's has: the answers of a burst are all handled
late, the next requests leave together, and the bursts never spread out. Run one at a
time (first come, first served), each call's CPU work ends as early as it can and the
calls stay spread over time. Measured in bench/bench_evals.py: the overhead at
concurrency 50 roughly halves.

The turn is given up by httpx event hooks (just before the request is sent; taken back
once the whole response body has arrived), so the client keeps its own transport,
proxies and settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any


class CpuTurn:
    """A fair lock that knows, per task, whether that task holds it."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._holding: ContextVar[bool] = ContextVar(f"cpu-turn-{id(self)}", default=False)

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Hold the turn for the block, except where the block gives it up."""
        await self._lock.acquire()
        self._holding.set(True)
        try:
            yield
        finally:
            self._give_up()

    def _give_up(self) -> None:
        if self._holding.get():
            self._holding.set(False)
            self._lock.release()

    async def _take_back(self) -> None:
        await self._lock.acquire()  # cancelled here: not held, and nothing to release
        self._holding.set(True)

    def event_hooks(self) -> dict[str, list[Any]]:
        """httpx event hooks: give the turn up while the request is on the wire."""

        async def on_request(_: Any) -> None:
            self._give_up()

        async def on_response(response: Any) -> None:
            try:
                await response.aread()  # the body's wait is network time too
            finally:
                await self._take_back()

        return {"request": [on_request], "response": [on_response]}
