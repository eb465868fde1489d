"""Progress on the command line: a rich status line that appears only when a step is slow.

A step that takes less than a second shows nothing; a longer one shows a spinner with what is
happening ("scanning 20,000,000 visits", "compiling the scan: first run on this machine") on
stderr, so that redirected output stays clean. Never shown with ``--quiet`` or ``--json``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any


class DelayedStatus:
    """A context manager whose :meth:`update` names the current step."""

    def __init__(self, delay: float = 1.0) -> None:
        self.delay = delay
        self._text = ""
        self._since = time.monotonic()
        self._status: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> DelayedStatus:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        with self._lock:
            if self._status is not None:
                self._status.stop()
                self._status = None

    def update(self, text: str) -> None:
        """The next step begins."""
        with self._lock:
            self._text = text
            self._since = time.monotonic()
            if self._status is not None:
                self._status.update(text)

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            with self._lock:
                if (
                    self._status is None
                    and self._text
                    and time.monotonic() - self._since > self.delay
                ):
                    from rich.console import Console

                    self._status = Console(stderr=True).status(self._text)
                    self._status.start()


@contextmanager
def steps_shown(ns: Any) -> Iterator[None]:
    """Within the block, the steps engines announce (:func:`smoulder._progress.announce`) appear
    on the status line when one takes more than a second (never with ``--quiet``/``--json``, or
    off a terminal)."""
    from smoulder._progress import listening
    from smoulder.cli.progression import progress_display

    with progress_display(ns) as update, listening(update):
        yield
