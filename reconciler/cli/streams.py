"""alm's standard output as a shell user meets it: a reader that goes away early
(`alm ... | head -1`), and a locale whose encoding cannot show every character of the
repository's text (LANG=en_US.ISO-8859-1)."""

from __future__ import annotations

import io
import os
import select
import sys
from collections.abc import Iterator
from contextlib import contextmanager

STDOUT_CLOSED = 141  # 128 + SIGPIPE: what a shell reports for a program a pipe ended


class StdoutClosed(Exception):
    """Whoever read alm's output has gone. Not an OSError, so that click's own EPIPE
    handling (sys.exit(1), as if the input were invalid) does not take it."""


class Carried(Exception):
    """A broken pipe that is not stdout's (a socket, a child's stdin), carried past click,
    which would take any EPIPE for a closed stdout and exit 1 without a word."""

    def __init__(self, error: BrokenPipeError) -> None:
        super().__init__(str(error))
        self.error = error


def stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (poll reports an error on it)."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):  # captured, or not a file at all
        return False
    poll = select.poll()
    poll.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poll.poll(0))


@contextmanager
def stdout_guard() -> Iterator[None]:
    """A broken pipe on stdout becomes StdoutClosed; one on a socket or on a child's
    stdin stays what it is."""
    try:
        yield
    except BrokenPipeError as err:
        if not stdout_closed():
            raise Carried(err) from err
        raise StdoutClosed from err
    except SystemExit as exit_:
        # rich's Console answers a broken pipe with SystemExit(1), stdout sent to devnull
        if isinstance(exit_.__context__, BrokenPipeError):
            raise StdoutClosed from exit_.__context__
        raise


def flush_stdout() -> None:
    """Flush now, so that a reader gone before the last buffered line is StdoutClosed
    here, not 'Exception ignored ... BrokenPipeError' from the interpreter's exit."""
    with stdout_guard():
        sys.stdout.flush()


def silence_stdout() -> None:
    """Send what is left in stdout's buffer, and anything after it, nowhere."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


@contextmanager
def tolerant_stdout() -> Iterator[None]:
    """A character the locale's encoding lacks is written as a \\uXXXX escape instead of
    ending the command (exit 4, UnicodeEncodeError), as Python already does on stderr."""
    stream = sys.stdout
    if not isinstance(stream, io.TextIOWrapper) or stream.errors != "strict":
        yield
        return
    stream.reconfigure(errors="backslashreplace")
    try:
        yield
    finally:
        if not stream.closed:
            stream.reconfigure(errors="strict")
