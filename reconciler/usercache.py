"""alm's folder in the user's cache (``$XDG_CACHE_HOME/alm``, else ``~/.cache/alm``).

Outside every repository on purpose: what is kept here (the parse cache's signing key,
answers derived from installed packages) must never come from a pull request.
"""

from __future__ import annotations

import os
from pathlib import Path


def folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "alm"
