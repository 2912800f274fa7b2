"""The floor for the side-by-side eval benchmark: a plain asyncio client, as its own process.

``python -m bench.plain_client --calls 2000 --concurrency 50 --model gpt-4.1-mini``: that
many chat completions through the official openai AsyncOpenAI client (one client, a
semaphore), against ``OPENAI_BASE_URL`` with ``OPENAI_API_KEY`` from the environment.
No grading, no records: what any harness pays at least. Exits 1 when a call failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from openai import AsyncOpenAI


async def one(client: AsyncOpenAI, gate: asyncio.Semaphore, model: str, i: int) -> bool:
    async with gate:
        reply = await client.chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": "You draft customer emails."},
                {"role": "user", "content": f"Draft a renewal reminder, request {i}."},
            ],
        )
    return bool(reply.choices)


async def run(calls: int, concurrency: int, model: str) -> int:
    client = AsyncOpenAI(max_retries=0)
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
    args = parser.parse_args()
    answered = asyncio.run(run(args.calls, args.concurrency, args.model))
    sys.stdout.write(f"{answered} of {args.calls} calls answered\n")
    return 0 if answered == args.calls else 1


if __name__ == "__main__":
    raise SystemExit(main())
