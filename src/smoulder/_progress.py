"""What a long computation is doing now, told to whoever shows it.

An engine calls :func:`announce` as each slow step begins ("registering time point 2 to the
baseline"); the command line shows the latest one on a status line when a step takes more than
a second (:mod:`smoulder.cli._progress`). Nothing is shown, and nothing costs anything, when no
one listens: the engines stay free of any user interface.

The listener is held in a context variable, so that two computations in one process (the web
app's threads, tests) never hear each other's steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_LISTENER: ContextVar[Callable[[str], None] | None] = ContextVar("smoulder_progress", default=None)


@contextmanager
def listening(listener: Callable[[str], None] | None) -> Iterator[None]:
    """Within the block, :func:`announce` tells ``listener`` (``None``: nobody)."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def announce(what: str) -> None:
    """Tell the listener, if any, that the step ``what`` begins (words for a user, no data)."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(what)
