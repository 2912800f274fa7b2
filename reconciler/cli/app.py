"""What every command shares: where the repository is, how loud to be."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import click

from reconciler.errors import AlmError
from reconciler.spec import source
from reconciler.spec.loader import ParseCache, load_ref, load_worktree
from reconciler.spec.state import DesiredState


@dataclass
class App:
    repo: Path
    verbose: bool = False
    # one parse per unchanged file, however many refs a command loads
    parse_cache: ParseCache = field(default_factory=dict, repr=False)

    @cached_property
    def root(self) -> Path:
        """The repository root: the git top level, or --repo itself outside git."""
        if not self.repo.is_dir():
            raise AlmError(f"{self.repo} is not a directory; expected the alm repository")
        root = source.repository_root(self.repo)
        if not (root / "agents").is_dir() and (self.repo / "agents").is_dir():
            return self.repo.resolve()
        return root

    def load(self, ref: str | None = None) -> DesiredState:
        """The desired state at a git ref, or in the working tree when ref is None."""
        if ref is None:
            if not (self.root / "agents").is_dir():
                raise AlmError(
                    f"no agents/ folder in {self.root}; expected an alm repository "
                    "(run alm from its root or pass -C PATH)"
                )
            return load_worktree(self.root, self.parse_cache)
        return load_ref(self.root, ref, self.parse_cache)


pass_app = click.make_pass_decorator(App)
