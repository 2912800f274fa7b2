"""Whether git tracks a path of alm's local state (under .alm/, never committed).

A file there that git tracks came with a commit: a pull request wrote it, no run of alm
did (a forged audit history, forged traces, a lock naming a fake holder, a clone whose
git config runs commands). Each family of state asks once per command, with one
`git ls-files` for all its paths; a repository outside git has nothing committed.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

from reconciler.errors import AlmError
from reconciler.fsutil import STATE_REMEDY, link_out_of, refuse_link_out

TIMEOUT_S = 60.0
MAX_OUTPUT = 64 << 10  # only the first name is used: a longer listing is cut (and killed)
_NOT_A_REPOSITORY = b"not a git repository"


class Committed(AlmError):
    """A path of alm's local state is tracked by git (or git could not say whether)."""


def _names(root: Path, paths: tuple[Path, ...]) -> list[str]:
    """The paths that exist, as git names them from root: as written (a committed symlink
    is tracked itself) and resolved through links inside the repository (git lists nothing
    beyond a symlink). One missing has nothing a commit put there (alm makes it anew); a
    target out of the repository is not this repository's (fsutil.refuse_link_out's)."""
    inside = root.resolve()
    names: list[str] = []
    for path in paths:
        if not os.path.lexists(path):
            continue
        for name in (_relative(path, root), _relative(_resolved(path), inside)):
            if name is not None and name not in names:
                names.append(name)
    return names


def _relative(path: Path | None, root: Path) -> str | None:
    try:
        return None if path is None else path.relative_to(root).as_posix()
    except ValueError:
        return None


def _resolved(path: Path) -> Path | None:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a loop: it leads nowhere
        return None


def _ls_files(root: Path, names: list[str]) -> tuple[int, bytes, bytes]:
    """git ls-files' exit code, the start of its listing and of its errors; killed after
    TIMEOUT_S (exit code None -> -9) or once the listing passes MAX_OUTPUT."""
    command = ["git", "--literal-pathspecs", "-C", str(root), "ls-files", "-z", "--", *names]
    env = {**os.environ, "LC_ALL": "C"}
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    ) as done:
        assert done.stdout is not None and done.stderr is not None
        timer = threading.Timer(TIMEOUT_S, done.kill)  # a read never outlives the bound
        timer.start()
        try:
            out = done.stdout.read(MAX_OUTPUT)
            if len(out) >= MAX_OUTPUT:
                done.kill()
            err = done.stderr.read(MAX_OUTPUT)
            code = done.wait()
        finally:
            timer.cancel()
    if b"\0" in out:  # a complete first name: the answer, however git ended
        return 0, out, err
    return code, out, err


def tracked(root: Path, *paths: Path) -> str | None:
    """The first of ``paths`` (for a folder: a file under it) that git tracks, as git
    names it from root; None when none is, or root is in no git work tree (or git is not
    installed: alm then treats the repository as outside git). Committed, saying so,
    when git cannot answer."""
    names = _names(root, paths)
    if not names:
        return None
    try:
        code, out, err = _ls_files(root, names)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Committed(f"git ls-files: could not run ({exc})") from None
    if code == 0:
        first = out.split(b"\0", 1)[0]
        return first.decode("utf-8", "replace") if first else None
    if _NOT_A_REPOSITORY in err:
        return None
    detail = err.decode("utf-8", "replace").strip().splitlines() or [
        f"killed after {TIMEOUT_S:g} s" if code < 0 else f"exit code {code}"
    ]
    raise Committed(
        f"{names[0]}: git could not tell whether it is committed to the repository "
        f"(git ls-files: {detail[-1]}); alm never uses local state it cannot vouch for"
    )


def committed(root: Path, *paths: Path) -> bool:
    """Whether a cache must be skipped: one of ``paths`` is tracked, or git cannot say."""
    try:
        return tracked(root, *paths) is not None
    except Committed:
        return True


def refuse_tracked(root: Path, *paths: Path, what: str = "", alternative: str = "") -> None:
    """Committed naming the first of ``paths`` (or a file under one) that git tracks, what
    it is (``what``: "the audit log") and what to do (``alternative``: another way, after
    the remedy); nothing when none is."""
    hit = tracked(root, *paths)
    if hit is None:
        return
    asked = _names(root, paths)
    folder = next((name for name in asked if hit.startswith(f"{name}/")), None)
    remove = f"git rm -r --cached {folder}" if folder else f"git rm --cached {hit}"
    raise Committed(
        f"{hit}: {f'{what} is ' if what else ''}committed to the repository; alm's local "
        f"state under .alm/ is never committed: remove it from git ({remove}) and add .alm/ "
        f"to .gitignore{f', {alternative}' if alternative else ''}"
    )


def refuse_foreign(root: Path, *paths: Path, what: str = "", alternative: str = "") -> None:
    """alm's local state at ``paths`` must be this repository's and alm's own: LinkedOut
    when a symlink leads it out of the repository, Committed when git tracks it."""
    remedy = f"{STATE_REMEDY}, {alternative}" if alternative else STATE_REMEDY
    refuse_link_out(root, *paths, remedy=remedy)
    refuse_tracked(root, *paths, what=what, alternative=alternative)


def foreign(root: Path, *paths: Path) -> bool:
    """Whether state that is only a convenience (a cache, a note) must be left unused: a
    symlink leads it out of the repository, or git tracks it (or cannot say)."""
    return link_out_of(root, *paths) is not None or committed(root, *paths)
