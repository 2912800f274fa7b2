"""The network's floor for the side-by-side eval benchmark: no client library at all.

``python -m bench.raw_client --calls 2000 --concurrency 50 --model gpt-4.1-mini``: that
many chat completions over asyncio streams, one keep-alive HTTP/1.1 connection per
concurrent caller, against ``OPENAI_BASE_URL`` (plain http only). What the issue's
"plain asyncio client" row measures: the bound any harness could approach, shown next to
the official openai client's own floor (bench/plain_client.py), which alm must go through.
Exits 1 when a call failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from urllib.parse import urlsplit


async def caller(host: str, port: int, path: str, model: str, calls: list[int]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    answered = 0
    try:
        while calls:
            i = calls.pop()
            body = json.dumps(
                {"model": model, "messages": [{"role": "user", "content": f"request {i}"}]}
            ).encode()
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {os.environ.get('OPENAI_API_KEY', '')}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode() + body)
            status_and_headers = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in status_and_headers.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            reply = json.loads(await reader.readexactly(length))
            answered += bool(reply.get("choices"))
    finally:
        writer.close()
    return answered


async def run(calls: int, concurrency: int, model: str) -> int:
    url = urlsplit(os.environ["OPENAI_BASE_URL"])
    path = url.path.rstrip("/") + "/chat/completions"
    todo = list(range(calls))
    host, port = url.hostname or "127.0.0.1", url.port or 80
    done = await asyncio.gather(
        *(caller(host, port, path, model, todo) for _ in range(concurrency))
    )
    return sum(done)


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
