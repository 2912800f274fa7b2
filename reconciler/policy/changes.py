"""The git side of governance: which files a change touches, CODEOWNERS at the base.

The only module of reconciler.policy that runs git; everything else is pure.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from reconciler.errors import GitError
from reconciler.policy.codeowners import LOCATIONS
from reconciler.spec.source import resolve_ref


def _git(root: Path, *args: str, ok: tuple[int, ...] = (0,)) -> tuple[int, bytes]:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed; expected the git CLI on PATH") from None
    if done.returncode not in ok:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {detail[-1] if detail else done.returncode}")
    return done.returncode, done.stdout


def _paths(out: bytes) -> list[str]:
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


def merge_base(root: Path, base: str, head: str) -> str:
    """Where the change forked from base, as GitHub diffs a pull request; base when unrelated."""
    code, out = _git(root, "merge-base", base, head, ok=(0, 1))
    return out.decode().strip() if code == 0 and out.strip() else base


def changed_files(root: Path, base: str, head: str | None = None) -> list[str]:
    """Files added, changed or removed from base to head (the working tree when head is None).

    Renames count as a removal and an addition, so the owners of both paths approve.
    """
    base_commit = resolve_ref(root, base)
    if head is not None:
        head_commit = resolve_ref(root, head)
        fork = merge_base(root, base_commit, head_commit)
        _, out = _git(root, "diff", "--name-only", "-z", "--no-renames", fork, head_commit, "--")
        return sorted(set(_paths(out)))
    fork = merge_base(root, base_commit, "HEAD")
    _, out = _git(root, "diff", "--name-only", "-z", "--no-renames", fork, "--")
    _, untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    # alm's own local state is not part of a change, .gitignore or not (a committed file
    # under .alm/ is in the diff above, and is refused where alm would use it)
    mine = [p for p in _paths(untracked) if not p.startswith(".alm/")]
    return sorted(set(_paths(out)) | set(mine))


def read_at(root: Path, ref: str, path: str) -> str | None:
    """A file's text at a ref; None when it does not exist there."""
    code, out = _git(root, "cat-file", "-p", f"{resolve_ref(root, ref)}:{path}", ok=(0, 128))
    return out.decode("utf-8", "replace") if code == 0 else None


def codeowners_at(root: Path, ref: str) -> tuple[str, str] | None:
    """(path, text) of the CODEOWNERS file GitHub would use at ref, or None."""
    for path in LOCATIONS:
        text = read_at(root, ref, path)
        if text is not None:
            return path, text
    return None
