"""The official client's floor for the side-by-side eval benchmark, as its own process.

``python -m bench.plain_client --calls 2000 --concurrency 50 --model gpt-4.1-mini``: that
many chat completions through the official openai AsyncOpenAI client on its aiohttp
transport, sent as alm sends them (the client's generic ``post`` with a JSON body, which
skips the per-field transform of ``chat.completions.create``; one client, a semaphore),
against ``OPENAI_BASE_URL`` with
``OPENAI_API_KEY`` from the environment. ``--transport httpx``: the client's default one.
No grading, no records: what a harness that goes through the client pays at least.
Exits 1 when a call failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from openai import AsyncOpenAI, DefaultAioHttpClient


async def one(client: AsyncOpenAI, gate: asyncio.Semaphore, model: str, i: int) -> bool:
    body = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You draft customer emails."},
            {"role": "user", "content": f"Draft a renewal reminder, request {i}."},
        ],
    }
    async with gate:  # the client's generic post with a JSON body, as alm sends its calls
        raw = await client.post(
            "/chat/completions",
            cast_to=bytes,
            content=json.dumps(body).encode(),
            options={"headers": {"Content-Type": "application/json"}},
        )
    return bool(json.loads(raw)["choices"])


async def run(calls: int, concurrency: int, model: str, transport: str) -> int:
    http = DefaultAioHttpClient() if transport == "aiohttp" else None
    client = AsyncOpenAI(max_retries=0, http_client=http)
    gate = asyncio.Semaphore(concurrency)
    try:
        answered = await asyncio.gather(*(one(client, gate, model, i) for i in range(calls)))
    finally:
        await client.close()
    return sum(answered)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--model", default="gpt-4.1-mini")
    parser.add_argument("--transport", choices=("aiohttp", "httpx"), default="aiohttp")
    args = parser.parse_args()
    answered = asyncio.run(run(args.calls, args.concurrency, args.model, args.transport))
    sys.stdout.write(f"{answered} of {args.calls} calls answered\n")
    return 0 if answered == args.calls else 1


if __name__ == "__main__":
    raise SystemExit(main())
