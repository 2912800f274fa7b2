"""Point the demo clone's environments at one target of each kind.

dev: a directory in the clone; staging: the clone's own branch alm/deployments (git);
prod: the reference registry the demo started (http, bearer token from
ALM_REGISTRY_TOKEN). The shipped policies/environments.yaml may use other targets (a
hosted runner has no disk that lasts), so the demo sets them whatever it says.

A text edit, so the rest of the file is untouched: each environment's `target:` block
(its `    target:` line and the lines indented below it) is replaced; its other settings
(gates, audit, drift...) stay as shipped. An environment or a block that is not where it
is expected fails loudly instead of demoing something else.

Usage: python3 scripts/demo_targets.py REPO REGISTRY_URL
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

FILE = "policies/environments.yaml"
URL = re.compile(r"^http://127\.0\.0\.1:[0-9]{1,5}$")


def targets(url: str) -> dict[str, str]:
    return {
        "dev": "    target:\n      type: directory\n      path: .alm/deployments/dev\n",
        "staging": "    target:\n      type: git\n      branch: alm/deployments\n",
        "prod": (
            f"    target:\n      type: http\n      url: {url}\n"
            "      token_env: ALM_REGISTRY_TOKEN\n"
        ),
    }


def _line_end(text: str, at: int) -> int:
    """The index just past the line that `at` is in."""
    end = text.find("\n", at)
    return len(text) if end < 0 else end + 1


def replace_target(text: str, env: str, block: str) -> str:
    """The text with `env`'s target block (its `    target:` line and the lines indented
    below it) replaced; ValueError saying what is missing."""
    start = text.find(f"  - name: {env}\n")
    if start < 0:
        raise ValueError(f"no environment '{env}' (a line '  - name: {env}')")
    end_env = text.find("\n  - name: ", start + 1)
    end_env = len(text) if end_env < 0 else end_env + 1
    begin = text.find("\n    target:", start, end_env)
    if begin < 0:
        raise ValueError(f"environment '{env}' has no '    target:' block")
    stop = _line_end(text, begin + 1)
    while stop < end_env and text.startswith("      ", stop):
        stop = _line_end(text, stop)
    return text[: begin + 1] + block + text[stop:]


def main(root: Path, url: str) -> int:
    if not URL.match(url):
        print(f"demo_targets: {url!r} is not a local registry URL", file=sys.stderr)
        return 1
    path = root / FILE
    text = path.read_text(encoding="utf-8")
    try:
        for env, block in targets(url).items():
            text = replace_target(text, env, block)
    except ValueError as exc:
        print(f"demo_targets: {FILE}: {exc}", file=sys.stderr)
        return 1
    path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
