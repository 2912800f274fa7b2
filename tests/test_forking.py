"""reconciler.forking: a value computed in a forked child, and the parent redoing the work
whenever the child cannot give it (an error, a value that does not pickle)."""

from __future__ import annotations

import os
import threading

import pytest

from reconciler import forking
from reconciler.errors import AlmError

needs_fork = pytest.mark.skipif(not forking.can_fork(), reason="needs fork and two cores")


@needs_fork
def test_the_value_is_computed_in_another_process() -> None:
    parent = os.getpid()
    result = forking.started(lambda: {"pid": os.getpid(), "big": b"x" * (4 << 20)})()
    assert result["pid"] != parent
    assert result["big"] == b"x" * (4 << 20)  # larger than a pipe's buffer


@needs_fork
def test_an_error_in_the_child_is_raised_by_the_parent_doing_the_work() -> None:
    parent = os.getpid()
    seen: list[int] = []

    def work() -> int:
        seen.append(os.getpid())  # only the parent's list is seen here
        raise AlmError(f"failed in {os.getpid()}")

    with pytest.raises(AlmError, match=f"failed in {parent}$"):
        forking.started(work)()
    assert seen == [parent]


@needs_fork
def test_a_value_that_does_not_pickle_is_computed_by_the_parent() -> None:
    parent = os.getpid()
    lock = threading.Lock()  # not picklable
    value = forking.started(lambda: (os.getpid(), lock))()
    assert value == (parent, lock)


def test_without_fork_the_work_runs_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "fork")
    ran: list[int] = []
    result = forking.started(lambda: ran.append(os.getpid()) or 7)
    assert ran == []
    assert result() == 7
    assert ran == [os.getpid()]
