"""Turns at the model: one unit of model work at a time, in the order asked, so long jobs cannot starve short ones.

Two requests that run the networks at once only share the same CPU cores (and
double the memory), so the app runs one *unit* of model work at a time: an inversion,
a render, a gallery, one refinement step, one batch of video frames, one chunk of a
mesh's density grid. A long job (refinement, video, large mesh) takes a new turn for
every unit, and turns are granted first come, first served: a ``/render`` asked for
during another user's 200-step refinement waits for one step, not for the refinement.

A turn belongs to a request, not to a thread (Gradio may run two calls of one
generator on different worker threads). When the server shuts down (:meth:`Turns.close`)
every request that asks for a turn, or waits for one, gets ``ValueError`` with the
reason, which its client sees. Work that runs beside the model (an alignment) is an
:meth:`Turns.errand`: shutting down waits for it too, and it ends with the same error.
"""
from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Iterator
from typing import TypeVar

Item = TypeVar("Item")
_END = object()


class Turns:
    """A first-come, first-served queue for the model (the holder is at its head)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._queue: deque[object] = deque()
        self._errands = 0
        self._closed = ""

    def _wait(self, ticket: object) -> None:
        """Wait (holding ``_changed``) until ``ticket`` is first; ``ValueError`` if closed meanwhile."""
        self._changed.wait_for(lambda: self._closed or self._queue[0] is ticket)
        if self._closed:
            self._queue.remove(ticket)
            self._changed.notify_all()
            raise ValueError(self._closed)

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for the model (behind everyone who asked before), hold it for the ``with`` block."""
        ticket = object()
        with self._changed:
            self._queue.append(ticket)
            self._wait(ticket)
        try:
            yield
        finally:
            with self._changed:
                if ticket in self._queue:  # not when closing took it away in pass_turn
                    self._queue.remove(ticket)
                self._changed.notify_all()

    def pass_turn(self) -> None:
        """Inside :meth:`turn`: let everyone waiting go first, then go on (nothing happens if no one waits).

        Once the turns are closed, ``ValueError`` with the reason: the job stops at its next unit.
        """
        with self._changed:
            if self._closed:
                raise ValueError(self._closed)
            if len(self._queue) < 2:
                return
            ticket = self._queue.popleft()
            self._queue.append(ticket)
            self._changed.notify_all()
            self._wait(ticket)

    @contextlib.contextmanager
    def errand(self) -> Iterator[None]:
        """Work beside the model (it takes no turn) that shutting down waits for.

        ``ValueError`` with the reason when the turns are closed before it starts or
        while it runs (its result is dropped: the server is going).
        """
        with self._changed:
            if self._closed:
                raise ValueError(self._closed)
            self._errands += 1
        try:
            yield
        finally:
            with self._changed:
                self._errands -= 1
                self._changed.notify_all()
        if self._closed:
            raise ValueError(self._closed)

    def waiting(self) -> int:
        """Requests waiting for a turn (the holder not counted)."""
        with self._changed:
            return max(len(self._queue) - 1, 0)

    def close(self, reason: str) -> None:
        """Refuse every turn from now on with ``ValueError(reason)`` (waiting requests are woken to get it)."""
        with self._changed:
            self._closed = reason
            self._changed.notify_all()

    def wait_until_free(self, seconds: float) -> bool:
        """Whether the model is free (no one holds or waits for a turn, no errand runs) within ``seconds``."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._queue and not self._errands, seconds)

    def each_in_a_turn(self, items: Iterator[Item]) -> Iterator[Item]:
        """The items of ``items``, each computed in a turn of its own; others may go between two.

        The turn is not held while the caller has the item, so a caller that stops
        iterating (a cancelled request) holds nothing.
        """
        while True:
            with self.turn():
                item = next(items, _END)
            if item is _END:
                return
            yield item  # type: ignore[misc]
