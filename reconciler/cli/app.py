"""What every command shares: where the repository is, how loud to be."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.errors import UsageError

if TYPE_CHECKING:  # the spec models are imported by the commands that read specs, not here
    from reconciler.spec.loader import ParseCache
    from reconciler.spec.state import DesiredState


@dataclass
class App:
    repo: Path
    verbose: bool = False
    # one parse per unchanged file, however many refs a command loads
    parse_cache: ParseCache = field(default_factory=dict, repr=False)

    @cached_property
    def root(self) -> Path:
        """The alm repository's root: the git top level, or --repo itself outside git.
        Every command that reads the repository comes here, so outside one each says so
        the same way: a usage error (exit 2), before anything is read or written."""
        from reconciler.spec import source

        if not self.repo.is_dir():
            raise UsageError(f"{self.repo} is not a directory; expected an alm repository")
        root = source.repository_root(self.repo)
        if (root / "agents").is_dir():
            return root
        if (self.repo / "agents").is_dir():
            # CODEOWNERS, changed files and refs are paths from the git top level: a fleet
            # below it would lose its code owners' approvals without a word
            where = self.repo.resolve().relative_to(root).as_posix()
            raise UsageError(
                f"the fleet in {where}/ is below the top level of its git repository {root}; "
                "expected agents/ at the top level (keep the fleet in a repository of its own)"
            )
        raise UsageError(
            f"not an alm repository: no agents/ folder in {root} "
            "(run alm in the repository or pass -C PATH)"
        )

    def load(self, ref: str | None = None) -> DesiredState:
        """The desired state at a git ref, or in the working tree when ref is None."""
        from reconciler.spec.loader import load_ref, load_worktree

        if ref is None:
            return load_worktree(self.root, self.parse_cache)
        return load_ref(self.root, ref, self.parse_cache)


pass_app = click.make_pass_decorator(App)
