"""Ctrl-C and SIGTERM stop a command the same way: one line, exit 130 or 143, files intact.

SIGINT (Ctrl-C) raises :class:`KeyboardInterrupt` in Python; while a command runs,
:func:`sigterm_as_interrupt` makes SIGTERM (``kill PID``, ``docker stop``, a batch
scheduler's time limit) raise :class:`Terminated`, a :class:`KeyboardInterrupt` too, so every
clean-up that Ctrl-C gets runs for both: temporary files are removed, a checkpoint being
written is left out, ``predict``'s JSON Lines keep every finished document. A second SIGTERM
during that clean-up ends the process at once (the default action).

Typer turns a :class:`KeyboardInterrupt` inside a command into a bare exit code; the
command line wraps every command with :func:`interruptible`, which turns it into
:class:`Interrupted` instead, so that :func:`spertmt.cli.main` can print what the command said
it kept and choose the exit code: 130 (128 + SIGINT) or 143 (128 + SIGTERM), as shells
report a command ended by that signal.
"""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

INTERRUPTED = 130
"""Exit code after Ctrl-C (128 + SIGINT), as shells report an interrupted command."""

TERMINATED = 143
"""Exit code after SIGTERM (128 + SIGTERM)."""

F = TypeVar("F", bound=Callable[..., Any])


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would raise :class:`KeyboardInterrupt`."""


class Interrupted(Exception):
    """A command stopped by Ctrl-C or SIGTERM (see :func:`interruptible`).

    Args:
        message: The one line to print: ``interrupted``, what was kept after a colon.
        exit_code: :data:`INTERRUPTED` or :data:`TERMINATED`.

    Example:
        >>> stop = Interrupted.of(Terminated("kept 3 of 9 documents in out.jsonl.partial"))
        >>> stop.message, stop.exit_code
        ('interrupted (SIGTERM): kept 3 of 9 documents in out.jsonl.partial', 143)
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    @classmethod
    def of(cls, stop: KeyboardInterrupt) -> Interrupted:
        """The message and exit code for ``stop`` (its first argument says what was kept)."""
        terminated = isinstance(stop, Terminated)
        message = "interrupted (SIGTERM)" if terminated else "interrupted"
        detail = str(stop.args[0]) if stop.args else ""
        if detail:
            message += f": {detail}"
        return cls(message, TERMINATED if terminated else INTERRUPTED)


def interruptible(command: F) -> F:
    """Wrap a Typer command so that Ctrl-C or SIGTERM inside it raises :class:`Interrupted`."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt as stop:
            raise Interrupted.of(stop) from None

    return run  # type: ignore[return-value]


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Once only: a second SIGTERM while the first one's clean-up runs ends the process.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise Terminated()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` (main thread only).

    Elsewhere (another thread, a platform without SIGTERM) it changes nothing. The previous
    handler is restored afterwards.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
