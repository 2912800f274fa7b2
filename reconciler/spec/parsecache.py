"""A parse cache on disk, so that `alm validate` re-reads an unchanged fleet fast.

What parsing a YAML file gave (each document's values and positions) is kept by the
SHA-256 of the file's bytes, in one pack under the repository's .alm/cache/. Positions
are not kept: a document with a finding is parsed again for them, which gives them
exactly as a first parse does. The
repository is untrusted, and so is anything in it, this pack too: a pull request could
commit one that maps a bad file's bytes to good values. So the pack is signed with an
HMAC whose key lives outside the repository (in the user's cache folder, made on first
use, mode 0600), and a pack whose signature, format or version does not match is
ignored as a whole and parsed afresh. The pack is JSON (msgspec), never pickle, and
holds only documents that JSON gives back exactly (plain strings, numbers, booleans,
nulls, lists and mappings with string keys); a file with dates or other values, or one
that failed to parse, is parsed each time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from reconciler import __version__, usercache
from reconciler.errors import AlmError, SpecError
from reconciler.fsutil import link_out_of, read_limited, write_atomic
from reconciler.gcpause import gc_paused
from reconciler.spec import parsefork, places, source, yamlbuild, yamlevents, yamlsafe
from reconciler.spec.yamlsafe import Document

CACHE_FOLDER = Path(".alm") / "cache"
PACK_NAME = "parse.json"
KEY_NAME = "parse-cache.key"
MAX_PACK_BYTES = 512 * 1024 * 1024
_FORMAT = 1
_MAC_BYTES = 32
_KEY_BYTES = 32


class _Pack(msgspec.Struct, forbid_unknown_fields=True):
    version: str
    entries: dict[str, list[Any]]  # the values of each document of a file


_encode = msgspec.json.Encoder().encode
_decode_pack = msgspec.json.Decoder(_Pack).decode
_decode_any = msgspec.json.Decoder().decode


def _version() -> str:
    """alm's version and the YAML readers' own source: what a cached parse depends on."""
    reader = hashlib.sha256()
    for module in (yamlsafe, yamlbuild, yamlevents):
        reader.update(Path(str(module.__file__)).read_bytes())
    return f"{_FORMAT}/{__version__}/{reader.hexdigest()[:16]}"


def key_folder() -> Path:
    return usercache.folder()


def signing_key(folder: Path) -> bytes | None:
    """This user's key, made on first use; None when there is none to be had."""
    path = folder / KEY_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            key = read_limited(path, _KEY_BYTES, "a cache key")
        except AlmError:
            return None
        return key if len(key) == _KEY_BYTES else None
    except OSError:
        return None
    key = secrets.token_bytes(_KEY_BYTES)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def _sign(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


def _as_json(data: Any, exact: bool) -> msgspec.Raw | None:
    """The values as JSON when JSON gives exactly them back (no dates, bytes, non-string
    keys, NaN), kept encoded for the pack; else None. `exact`: the reader knows it does."""
    try:
        encoded = _encode(data)
        return msgspec.Raw(encoded) if exact or _decode_any(encoded) == data else None
    except (msgspec.MsgspecError, TypeError, ValueError, OverflowError):
        return None


def _fresh_json(file: str, raw: bytes) -> list[msgspec.Raw] | None:
    """A file's documents parsed, as JSON for the pack; None when JSON cannot hold them
    exactly or the file has an error (whoever needs its findings parses it again)."""
    try:
        documents, exact = yamlsafe.read_documents(file, raw)
    except SpecError:
        return None
    encoded = [_as_json(d.data, exact) for d in documents]
    return None if any(e is None for e in encoded) else [e for e in encoded if e is not None]


def _misses(
    digests: dict[str, tuple[bytes, str]], entries: dict[str, list[Any]]
) -> list[parsefork.File]:
    """The files not in the pack, once per content, in the loader's order."""
    misses = {d: (path, raw, d) for path, (raw, d) in digests.items() if d not in entries}
    return list(misses.values())


def _tree_misses(root: Path) -> list[parsefork.File]:
    """What a cold `prefetch` of the working tree will list; nothing when too few."""
    files = places.spec_files(source.from_worktree(root))
    digests = {path: (raw, hashlib.sha256(raw).hexdigest()) for path, raw in files}
    misses = _misses(digests, {})
    return misses if len(misses) >= parsefork.MIN_FILES else []


@dataclass
class ParseStore:
    """The pack of one repository: looked up while loading, saved after."""

    path: Path
    key: bytes
    version: str
    entries: dict[str, list[Any]] = field(default_factory=dict)
    used: dict[str, list[Any]] = field(default_factory=dict)
    hits: int = 0
    forked: parsefork.Forked | None = None
    order: dict[str, int] = field(default_factory=dict)  # of the files the child was given
    digests: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # by path

    @classmethod
    def open(cls, root: Path, keys: Path | None = None) -> ParseStore | None:
        pack = root / CACHE_FOLDER / PACK_NAME
        if link_out_of(root, pack) is not None:  # a committed .alm link: never followed
            return None
        key = signing_key(key_folder() if keys is None else keys)
        if key is None:
            return None
        store = cls(pack, key, _version())
        store.entries = store._read()
        return store

    def _read(self) -> dict[str, list[Any]]:
        """The pack's entries; none when it is missing, unsigned, corrupt or stale."""
        try:
            raw = read_limited(self.path, MAX_PACK_BYTES, "a parse cache")
        except AlmError:
            return {}
        mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        if not hmac.compare_digest(mac, _sign(self.key, body)):
            return {}
        try:
            with gc_paused():  # a fleet's pack is millions of small objects, none cyclic
                pack = _decode_pack(body)
        except msgspec.MsgspecError:
            return {}
        return pack.entries if pack.version == self.version else {}

    def documents(self, file: str, raw: bytes) -> list[Document]:
        """The documents of a file: from the pack when its bytes are there, else parsed."""
        digest = self._digest(file, raw)
        cached = self.entries.get(digest)
        if cached is not None:
            self.hits += 1
            self.used[digest] = cached
            return yamlsafe.lazy_documents(file, raw, cached)
        forked = self._forked(digest)
        if forked is not None:
            self.used[digest] = forked
            return yamlsafe.lazy_documents(file, raw, [_decode_any(d) for d in forked])
        documents, exact = yamlsafe.read_documents(file, raw)
        encoded = [_as_json(d.data, exact) for d in documents]
        if all(e is not None for e in encoded):
            self.used[digest] = encoded
        return documents

    def _digest(self, file: str, raw: bytes) -> str:
        known = self.digests.get(file)
        if known is not None and known[0] is raw:  # hashed by prefetch
            return known[1]
        return hashlib.sha256(raw).hexdigest()

    def _forked(self, digest: str) -> list[msgspec.Raw] | None:
        """What the child parsed of these bytes, if it has got to them first."""
        index = self.order.get(digest)
        if self.forked is None or index is None:
            return None
        reply = self.forked.claim(index)
        return None if reply is None else reply.get(digest)

    def settle(self) -> None:
        """Stop the child, if one was started, and wait for it."""
        if self.forked is not None:
            self.forked.reply()

    def prefetch(self, files: list[tuple[str, bytes]], min_files: int | None = None) -> None:
        """Have a second process parse these files (those not in the pack) from the last one
        backwards, when there are enough and a fork can be had (parsefork); `documents`
        then takes them in this order. A child started by `prefetch_tree` is kept."""
        least = parsefork.MIN_FILES if min_files is None else min_files
        if self.forked is None and not parsefork.can_fork(len(files), least):
            return
        self.digests = {path: (raw, hashlib.sha256(raw).hexdigest()) for path, raw in files}
        misses = _misses(self.digests, self.entries)
        self.order = {digest: index for index, (_, _, digest) in enumerate(misses)}
        if self.forked is None and parsefork.can_fork(len(misses), least):
            self.forked = parsefork.start(lambda: misses, _fresh_json)

    def prefetch_tree(self, root: Path) -> None:
        """With no pack to go by (a cold start), fork at once: the child reads the working
        tree itself and parses while this process imports the models and reads the tree.
        It lists the files as `prefetch` will (the same order, so both meet in the middle;
        were the tree to change in between, replies are by digest: nothing wrong is used)."""
        if self.forked is None and not self.entries and parsefork.can_fork(1, 1):
            self.forked = parsefork.start(partial(_tree_misses, root), _fresh_json)

    def save(self) -> None:
        """Write the pack of what this load used, when that differs from what was read.
        A cache is a convenience: when it cannot be written, alm goes on without it."""
        if self.used.keys() == self.entries.keys():
            return
        body = _encode(_Pack(self.version, self.used))
        try:
            write_atomic(self.path, _sign(self.key, body) + body)
        except OSError:
            return
