"""Parsing part of a large set of files in a second process, while this one goes on.

A cold `alm validate` of a large fleet spends about half its time making parser events
(PyYAML's C parser builds a Python object per event; no cheaper API exists). A forked
child parses the files from the last one backwards while the parent parses and checks
them from the first one on; where they meet depends on how fast each goes (the machine
may be busy), told through two numbers in shared memory: the parent's next file, which
the child does not go below, and the lowest file the child has done. The child then sends
back each file's documents as JSON (msgspec), only what JSON gives back exactly, as the
parse cache keeps them. Whatever the child could not parse (an error, a
date) the parent parses itself, so findings are the parent's own, word for word. No fork
where there is none, where a thread is running (a fork copies only the calling thread), on
a single core, or for a few files: then nothing changes.
"""

from __future__ import annotations

import gc
import mmap
import os
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

import msgspec

MIN_FILES = 200  # fewer parse in well under the cost of a fork and its reply

Reply = dict[str, list[msgspec.Raw] | None]  # by SHA-256 of the file's bytes
ParseJson = Callable[[str, bytes], list[msgspec.Raw] | None]
File = tuple[str, bytes, str]  # path, bytes, digest
Listing = Callable[[], Sequence[File]]
_encode = msgspec.json.Encoder().encode
_decode_reply = msgspec.json.Decoder(Reply).decode


_INDEX = struct.Struct("q")
_NEXT, _LOW = 0, _INDEX.size  # offsets of the parent's next file, the child's lowest done
_PAST_ALL = 2**62  # a file index past any list: none done yet, or stop now


@dataclass
class Forked:
    """A child parsing files from the last one backwards."""

    pid: int
    reader: int
    shared: mmap.mmap
    _next: int = 0
    _reply: Reply | None = field(default=None, repr=False)

    def claim(self, index: int) -> Reply | None:
        """The parent is at file `index`: the child's reply when the child has parsed that
        file and every later one, else None (the parent parses it, the child stops there)."""
        if self._reply is not None:
            return self._reply
        if index >= self._next:  # never lower: a file repeated from earlier comes again
            self._next = index + 1
            _INDEX.pack_into(self.shared, _NEXT, self._next)
        if _INDEX.unpack_from(self.shared, _LOW)[0] > index:
            return None
        return self.reply()

    def reply(self) -> Reply:
        """What the child parsed, once it stopped; empty when it failed."""
        if self._reply is None:
            _INDEX.pack_into(self.shared, _NEXT, _PAST_ALL)  # stop now
            self._reply = self._collect()
            self.shared.close()
        return self._reply

    def _collect(self) -> Reply:
        with os.fdopen(self.reader, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            return {}
        try:
            return _decode_reply(data)
        except msgspec.MsgspecError:
            return {}


def cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def can_fork(files: int, min_files: int) -> bool:
    return (
        hasattr(os, "fork")
        and files >= min_files
        and threading.active_count() == 1
        and cores() >= 2
    )


def start(listing: Listing, parse: ParseJson) -> Forked | None:
    """A child parsing the (path, bytes, digest) files `listing` gives it, with `parse`;
    None when it cannot start. The child calls `listing` itself: it may read them first."""
    shared = mmap.mmap(-1, 2 * _INDEX.size)  # anonymous: shared with the child
    _INDEX.pack_into(shared, _LOW, _PAST_ALL)
    reader, writer = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        for fd in (reader, writer):
            os.close(fd)
        shared.close()
        return None
    if pid == 0:  # the child: it never returns
        _child(reader, writer, listing, parse, shared)
    os.close(writer)
    return Forked(pid, reader, shared)


def _child(
    reader: int, writer: int, listing: Listing, parse: ParseJson, shared: mmap.mmap
) -> NoReturn:
    """Parse from the end until the parent's next file, reply, and leave without running
    the parent's exit handlers or flushing its buffers."""
    code = 1
    try:
        gc.disable()  # a short life: what it allocates is freed by its exit
        os.close(reader)
        files = listing()
        reply: Reply = {}
        for index in range(len(files) - 1, -1, -1):
            if index < _INDEX.unpack_from(shared, _NEXT)[0]:
                break
            path, raw, digest = files[index]
            reply[digest] = parse(path, raw)
            _INDEX.pack_into(shared, _LOW, index)
        with os.fdopen(writer, "wb") as pipe:
            pipe.write(_encode(reply))
        code = 0
    finally:
        os._exit(code)
