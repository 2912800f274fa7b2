"""Whether genai-prices prices a model is answered once, then from the user's cache folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.pricedmodels import FILE_NAME

ASK = """
import json, sys
from reconciler.pricing import PriceBook
book = PriceBook()
answers = [book.known("openai", "gpt-4.1-mini"), book.known("openai", "no-such-model-xyz")]
print(json.dumps({"answers": answers, "imported": "genai_prices" in sys.modules}))
"""


def ask(cache: Path) -> dict[str, object]:
    """A fresh interpreter's answers, and whether it had to import genai-prices."""
    done = subprocess.run(
        [sys.executable, "-c", ASK],
        env={"XDG_CACHE_HOME": str(cache), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, object] = json.loads(done.stdout)
    return found


def test_answers_are_remembered_and_not_asked_again(tmp_path: Path) -> None:
    first = ask(tmp_path)
    assert first == {"answers": [True, False], "imported": True}
    stored = json.loads((tmp_path / "alm" / FILE_NAME).read_text("utf-8"))
    assert stored["known"] == {"openai/gpt-4.1-mini": True, "openai/no-such-model-xyz": False}

    assert ask(tmp_path) == {"answers": [True, False], "imported": False}


@pytest.mark.parametrize(
    "stored",
    [
        b'{"genai_prices": "0.0.0-another", "known": {"openai/no-such-model-xyz": true}}',
        b"{not json",
        b'{"genai_prices": null, "known": []}',
        b"\xff\xfe",
    ],
)
def test_another_version_or_a_damaged_file_is_ignored(tmp_path: Path, stored: bytes) -> None:
    (tmp_path / "alm").mkdir()
    (tmp_path / "alm" / FILE_NAME).write_bytes(stored)
    assert ask(tmp_path) == {"answers": [True, False], "imported": True}
    assert ask(tmp_path) == {"answers": [True, False], "imported": False}
