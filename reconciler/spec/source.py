"""Where the desired state is read from: the working tree, or a git ref.

A git ref is read without a checkout, with one `git ls-tree` and one
`git cat-file --batch` process for the whole tree, so base and head can be
loaded side by side.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import GitError, UnknownRefError
from reconciler.spec.yamlsafe import MAX_FILE_BYTES

TOP_FOLDERS = ("agents", "policies", "evals")
_MAX_LINK_HOPS = 8
MAX_CASSETTE_BYTES = 4 * 1024 * 1024  # read for the secrets scan; replay has its own limit


@dataclass(frozen=True)
class Blob:
    size: int
    data: bytes | None  # None when over the size limit, or a link
    link: str | None = None  # symlink target, as stored


@dataclass
class Snapshot:
    """The files of the desired state, by repository-relative posix path."""

    label: str
    files: dict[str, Blob]

    def resolve(self, path: str) -> str | None:
        """Follow symlinks inside the snapshot, in every component of the path (a linked
        folder too); None when the path leaves the repository."""
        if not inside_repository(path):
            return None
        pending = posixpath.normpath(path).split("/")
        done = ""
        hops = 0
        while pending:
            current = posixpath.join(done, pending.pop(0)) if done else pending.pop(0)
            blob = self.files.get(current)
            if blob is None or blob.link is None:
                done = current
                continue
            hops += 1
            if hops > _MAX_LINK_HOPS or blob.link.startswith("/"):
                return None
            target = posixpath.normpath(posixpath.join(posixpath.dirname(current), blob.link))
            if not inside_repository(target):
                return None
            pending = target.split("/") + pending
            done = ""
        return done


def inside_repository(path: str) -> bool:
    normal = posixpath.normpath(path)
    return not (path.startswith("/") or normal == ".." or normal.startswith("../"))


def _wanted(path: str, cassettes: bool) -> bool:
    """Only what the loader reads, unless asked: recordings under cassettes/ can be large
    and many (the secrets scan asks for them)."""
    return cassettes or "/cassettes/" not in path


def _limit(path: str) -> int:
    """Bytes read of a file; a cassette may be larger than a spec file (it is only scanned)."""
    return MAX_CASSETTE_BYTES if "/cassettes/" in path else MAX_FILE_BYTES


def _read_file(full: str, size: int, limit: int) -> bytes | None:
    if size > limit:
        return None
    with open(full, "rb") as handle:
        # read(limit + 1) would allocate half a megabyte for each file: read what lstat
        # said, and on up to the limit only if the file has grown since
        data = handle.read(size + 1)
        return data if len(data) <= size else data + handle.read(limit + 1 - len(data))


def _relative(top: str, base: str, full: str) -> str:
    return top + full[len(base) :].replace(os.sep, "/")


def from_worktree(root: Path, cassettes: bool = False) -> Snapshot:
    files: dict[str, Blob] = {}
    for top in TOP_FOLDERS:
        if (root / top).is_symlink():  # os.walk would follow it, out of the repository maybe
            files[top] = Blob(0, None, os.readlink(root / top))
            continue
        base = str(root / top)  # plain strings and one lstat a file: thousands of files
        for folder, dirs, names in os.walk(base):
            for name in dirs:
                full = os.path.join(folder, name)
                if os.path.islink(full):  # os.walk does not descend into these; record it
                    files[_relative(top, base, full)] = Blob(0, None, os.readlink(full))
            dirs[:] = [d for d in dirs if cassettes or d != "cassettes"]
            for name in names:
                full = os.path.join(folder, name)
                rel = _relative(top, base, full)
                info = os.lstat(full)
                if stat.S_ISLNK(info.st_mode):
                    files[rel] = Blob(0, None, os.readlink(full))
                elif stat.S_ISREG(info.st_mode):  # a FIFO or device would block or mislead
                    files[rel] = Blob(info.st_size, _read_file(full, info.st_size, _limit(rel)))
    return Snapshot(str(root), files)


def _git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], input=stdin, capture_output=True, check=False
        )
    except FileNotFoundError:
        raise GitError("git is not installed; expected the git CLI on PATH") from None
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {detail[-1] if detail else done.returncode}")
    return done.stdout


def resolve_ref(root: Path, ref: str) -> str:
    """The commit a ref names; a usage error naming the ref when it names none."""
    if ref.startswith("-"):
        raise UnknownRefError(f"bad git ref {ref!r}; expected a branch, tag or commit")
    try:
        out = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except GitError:
        if not _in_git(root):
            raise UnknownRefError(
                f"cannot read git ref {ref!r}: {root} is not in a git repository"
            ) from None
        raise UnknownRefError(
            f"unknown git ref {ref!r}; expected a branch, tag or commit"
        ) from None
    return out.decode().strip()


def _in_git(root: Path) -> bool:
    try:
        _git(root, "rev-parse", "--git-dir")
    except GitError:
        return False
    return True


def from_git(root: Path, ref: str, cassettes: bool = False) -> Snapshot:
    commit = resolve_ref(root, ref)
    listing = _git(root, "ls-tree", "-r", "-z", "--long", commit, "--", *TOP_FOLDERS)
    entries: list[tuple[str, str, str, int]] = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        meta, path = record.decode("utf-8", "surrogateescape").split("\t", 1)
        mode, kind, oid, size_text = meta.split()
        if kind == "blob" and _wanted(path, cassettes):
            entries.append((path, mode, oid, int(size_text)))
    wanted = [oid for path, mode, oid, size in entries if mode == "120000" or size <= _limit(path)]
    contents = _cat_file(root, wanted)
    files: dict[str, Blob] = {}
    for path, mode, oid, size in entries:
        data = contents.get(oid)
        if mode == "120000":
            files[path] = Blob(0, None, (data or b"").decode("utf-8", "replace"))
        else:
            files[path] = Blob(size, data)
    return Snapshot(f"{ref} ({commit[:12]})", files)


def _cat_file(root: Path, oids: list[str]) -> dict[str, bytes]:
    if not oids:
        return {}
    unique = list(dict.fromkeys(oids))
    out = _git(root, "cat-file", "--batch", stdin=("\n".join(unique) + "\n").encode())
    contents: dict[str, bytes] = {}
    pos = 0
    for _ in unique:
        header_end = out.index(b"\n", pos)
        oid, _kind, size = out[pos:header_end].decode().split()
        start = header_end + 1
        contents[oid] = out[start : start + int(size)]
        pos = start + int(size) + 1
    return contents


def repository_root(start: Path) -> Path:
    """The git top level containing start, or start itself outside git."""
    try:
        top = _git(start, "rev-parse", "--show-toplevel").decode().strip()
    except GitError:
        return start.resolve()
    return Path(top)


def export_tree(root: Path, ref: str, folders: tuple[str, ...], dest: Path) -> None:
    """Write the files of folders at ref into dest (what a checkout of them would hold),
    for runs that need real files at a ref: cassettes, a command agent's own code."""
    commit = resolve_ref(root, ref)
    present = _git(root, "ls-tree", "--name-only", commit, "--", *folders).decode().split()
    if not present:
        return
    archive = _git(root, "archive", "--format=tar", commit, "--", *present)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        try:
            tar.extractall(dest, filter="data")  # "data": no links out, no absolute paths
        except tarfile.FilterError as exc:
            raise GitError(f"at {ref}: {exc}; expected no links out of the tree") from None
