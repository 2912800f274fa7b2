"""Which (provider, model) pairs genai-prices' bundled snapshot prices, remembered.

`alm validate` asks this of every agent's model, and answering it means importing
genai-prices, whose package brings its network updater's HTTP stack along (asyncio, ssl,
an HTTP client): about a tenth of a second of every validate, for a handful of distinct
models. The answers depend only on the installed genai-prices, so they are kept in the
user's cache folder (never in a repository), under that package's version: an upgrade
starts afresh. A file that is damaged, too large or of another version is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import suppress
from functools import lru_cache
from importlib import metadata

from reconciler import usercache
from reconciler.errors import AlmError
from reconciler.fsutil import read_limited, write_atomic

FILE_NAME = "priced-models.json"
MAX_BYTES = 1 << 20
MAX_ANSWERS = 4096  # a cap, so a long-lived cache cannot grow without bound


def _version() -> str:
    try:
        return metadata.version("genai-prices")
    except metadata.PackageNotFoundError:
        return "missing"


@lru_cache(maxsize=1)
def _answers() -> dict[str, bool]:
    """The remembered answers for the installed genai-prices (empty when there are none)."""
    try:
        stored = json.loads(read_limited(usercache.folder() / FILE_NAME, MAX_BYTES, "answers"))
    except (AlmError, ValueError):
        return {}
    if not isinstance(stored, dict) or stored.get("genai_prices") != _version():
        return {}
    known = stored.get("known")
    if not isinstance(known, dict):
        return {}
    return {k: v for k, v in known.items() if isinstance(k, str) and isinstance(v, bool)}


def remembered(provider: str, model: str, ask: Callable[[str, str], bool]) -> bool:
    """The remembered answer for the pair, else `ask`'s, which is then remembered."""
    key = f"{provider}/{model}"
    answers = _answers()
    if key in answers:
        return answers[key]
    answer = ask(provider, model)
    if len(answers) < MAX_ANSWERS:
        answers[key] = answer
        body = json.dumps({"genai_prices": _version(), "known": answers}, sort_keys=True)
        with suppress(OSError):  # a convenience: without it, the next run asks again
            write_atomic(usercache.folder() / FILE_NAME, body)
    return answer
