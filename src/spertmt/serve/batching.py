"""Dynamic batching for the server: the sentences of concurrent requests share forward passes.

Every ``/predict`` request is planned into model units (sentences, token lists) on its own, so
a bad input fails only its own request. Its units then go to one :class:`Batcher`, whose worker
thread owns the model and runs it one *pass* at a time. A pass takes up to ``max_units`` units
and runs them as forward passes (model calls) of ``batch_size`` units, sorted by length, shortest
first; a request is answered as soon as its last unit is done. Sorting matters: a forward pass
is padded to its longest sentence, and on a CPU one forward pass of 32 sentences of mixed
lengths costs more than 32 forward passes of one sentence each.

- a pass holds the units of requests with the same decision rule and batch size (the span
  stage does not depend on the rule, but the decision does, and a pass is decided with one
  rule), from at most ``max_requests`` requests;
- requests take turns: half a pass's places go to the requests in queue order, the other half
  to the requests with the fewest units left (small requests finish in the next pass), each
  request's shortest units first; a request with units left goes to the back of the queue.
  So a large request never holds a small one back for more than a pass, and a stream of
  small requests never stops a large one. The units of the requests that a pass finishes
  run first;
- when the worker is idle, the first request waits up to ``wait_s`` for others to join it;
  while it is busy, requests gather by themselves;
- between forward passes, the units of requests whose client has gone are dropped (they never
  run); the forward pass running when a client leaves still finishes.

``max_requests=1`` turns merging off: each pass holds one request's units, and requests still
take turns pass by pass.

Example:
    >>> batcher = Batcher(model.predict, wait_s=0.005, max_requests=32, max_units=128)
    ... # doctest: +SKIP
    >>> await batcher.predict(units, rule=model.rule, batch_size=32)     # doctest: +SKIP
    [Document(tokens=('Ann', 'met', 'Bob', '.'), ...)]

"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from spertmt.config import DecisionRule
from spertmt.inference.predictor import PairLimitError
from spertmt.schema import Document

__all__ = ["BatchStats", "Batcher", "UnitPredictor", "client_gone"]

_LOG = logging.getLogger("spertmt.serve")


UnitPredictor = Callable[..., list[Document]]
"""What the batcher runs: ``SpertMT.predict(inputs, rule=..., batch_size=...)`` over
word-token documents, one predicted document per input, in input order."""


@dataclass(eq=False)
class _Job:
    """One request's units on their way through the batcher (worker-thread state)."""

    units: Sequence[Document]
    rule: DecisionRule
    batch_size: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[Document]]
    arrived: float
    order: list[int]
    outputs: list[Document | None]
    taken: int = 0
    finished: int = 0
    cancelled: bool = False

    @property
    def key(self) -> Hashable:
        """Requests with equal keys may share a forward pass."""
        return (self.rule, self.batch_size)

    @property
    def left(self) -> int:
        """Units not yet given to a pass."""
        return len(self.order) - self.taken


@dataclass
class BatchStats:
    """What the batcher has done so far.

    Attributes:
        passes: Passes run (each one or more forward passes).
        forward_passes: Model calls (forward passes) run.
        units: Units (sentences, token lists) predicted.
        requests: Request shares of passes (a request in three passes counts three times).
        cancelled: Requests dropped because their client had gone.
    """

    passes: int = 0
    forward_passes: int = 0
    units: int = 0
    requests: int = 0
    cancelled: int = 0


@dataclass
class _Pass:
    """One pass: a rule, a batch size, and the units each request gives to it."""

    rule: DecisionRule
    batch_size: int
    parts: list[tuple[_Job, list[int]]] = field(default_factory=list)


class Batcher:
    """Run the model for every request in one worker thread, merging concurrent requests.

    Args:
        predict: The model call (``SpertMT.predict``), with ``rule`` and ``batch_size``.
        wait_s: How long an idle worker waits for more requests to join the first one.
        max_requests: Most requests in one pass; ``1``: no merging.
        max_units: Most units in one pass (at least the pass's ``batch_size``).

    Example:
        >>> batcher = Batcher(model.predict, wait_s=0.005, max_requests=32, max_units=128)
        ... # doctest: +SKIP

    """

    def __init__(
        self, predict: UnitPredictor, *, wait_s: float, max_requests: int, max_units: int
    ) -> None:
        self._predict = predict
        self._wait_s = wait_s
        self._max_requests = max_requests
        self._max_units = max_units
        self._pending: collections.deque[_Job] = collections.deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        self.stats = BatchStats()

    # ------------------------------------------------------------------ the requests' side
    async def predict(
        self,
        units: Sequence[Document],
        *,
        rule: DecisionRule,
        batch_size: int,
        disconnected: Callable[[], Awaitable[Any]] | None = None,
    ) -> list[Document] | None:
        """Predict one request's units, sharing forward passes with concurrent requests.

        Args:
            units: The request's model units (word-token documents).
            rule: Its decision rule.
            batch_size: Most units in one forward pass (passes hold units of one batch size).
            disconnected: Called once; the awaitable it returns completes when the client
                has disconnected (:func:`client_gone`). Then the request's remaining units are
                dropped and ``None`` is returned.

        Returns:
            One predicted document per unit, in order; ``None`` if the client went away first.

        Raises:
            Exception: Whatever the model call raised for a pass that held these units.
        """
        if not units:
            return []
        loop = asyncio.get_running_loop()
        lengths = [len(unit.tokens) for unit in units]
        job = _Job(
            units=units,
            rule=rule,
            batch_size=batch_size,
            loop=loop,
            future=loop.create_future(),
            arrived=time.monotonic(),
            order=sorted(range(len(units)), key=lengths.__getitem__),
            outputs=[None] * len(units),
        )
        self._submit(job)
        watcher = asyncio.ensure_future(disconnected()) if disconnected is not None else None
        try:
            waiting: set[asyncio.Future[Any]] = {job.future}
            if watcher is not None:
                waiting.add(watcher)
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if job.future in done:
                return job.future.result()
            if watcher is not None and (watcher.cancelled() or watcher.exception() is not None):
                # A watcher that failed says nothing about the client: wait for the result.
                return await job.future
            return None
        finally:
            if not job.future.done():
                self._cancel(job)
            if watcher is not None and not watcher.done():
                watcher.cancel()

    def close(self) -> None:
        """Stop the worker once the work it holds is done (a later request starts it again)."""
        with self._cond:
            self._closing = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=60)

    def _submit(self, job: _Job) -> None:
        with self._cond:
            self._pending.append(job)
            if self._thread is None:
                self._closing = False
                self._thread = threading.Thread(
                    target=self._work, name="spertmt-batcher", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _cancel(self, job: _Job) -> None:
        job.future.cancel()
        with self._cond:
            if not job.cancelled:
                job.cancelled = True
                self.stats.cancelled += 1
            self._cond.notify_all()

    # ------------------------------------------------------------------ the worker's side
    def _work(self) -> None:
        try:
            while (step := self._next_pass()) is not None:
                try:
                    self._run(step)
                except Exception as error:  # the pass's requests get it; the worker goes on
                    _LOG.exception("a forward pass failed")
                    for job, _ in step.parts:
                        job.cancelled = True
                        self._deliver(job, error)
        finally:
            with self._cond:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _run(self, step: _Pass) -> None:
        """Run one pass as forward passes of ``batch_size`` units sorted by length.

        The units of requests that this pass finishes come first. A request is answered as
        soon as its last unit is done, and the units of a request whose client has gone are
        skipped in the forward passes that remain.
        """
        slots = [(job, index) for job, chosen in step.parts for index in chosen]
        # Requests that this pass finishes first (their clients wait for nothing else), then
        # the others; by length within each (stable: a request's units keep their order).
        slots.sort(key=lambda slot: (slot[0].left > 0, len(slot[0].units[slot[1]].tokens)))
        self.stats.passes += 1
        self.stats.requests += len(step.parts)
        for begin in range(0, len(slots), step.batch_size):
            group = [
                slot for slot in slots[begin : begin + step.batch_size] if not slot[0].cancelled
            ]
            if not group:
                continue
            units, predicted = self._predict_group(group, step)
            if not group:
                continue
            if len(predicted) != len(units):
                raise RuntimeError(
                    f"the model returned {len(predicted)} documents for {len(units)}"
                )
            self.stats.forward_passes += 1
            self.stats.units += len(units)
            for (job, index), doc in zip(group, predicted, strict=True):
                job.outputs[index] = doc
                job.finished += 1
                if job.finished == len(job.units) and not job.cancelled:
                    self._deliver(job, job.outputs)

    def _predict_group(
        self, group: list[tuple[_Job, int]], step: _Pass
    ) -> tuple[list[Document], list[Document]]:
        """Predict one forward pass's units; ``(units, predictions)``.

        A unit that is bad input of its own (``E508``: its entities make too many pairs)
        fails only its request, with the error naming the unit by its place in that request
        (``position``); the group's other units are predicted without it. ``group`` loses
        the failed request's slots in place.
        """
        while True:
            units = [job.units[index] for job, index in group]
            if not units:
                return [], []
            try:
                return units, self._predict(units, rule=step.rule, batch_size=step.batch_size)
            except PairLimitError as error:
                job, index = group[error.position]
                job.cancelled = True
                self._deliver(job, error.moved(f"unit {index}", index))
                group[:] = [slot for slot in group if slot[0] is not job]

    def _next_pass(self) -> _Pass | None:
        """Wait for work and choose the next pass; ``None`` once closed."""
        with self._cond:
            while True:
                self._pending = collections.deque(j for j in self._pending if not j.cancelled)
                if not self._pending:
                    if self._closing:
                        self._thread = None  # under the lock: a new request starts a new worker
                        return None
                    self._cond.wait()
                    continue
                first = self._pending[0]  # whose turn it is
                mates = [j for j in self._pending if j.key == first.key]
                waited = time.monotonic() - first.arrived
                places = max(self._max_units, first.batch_size)
                full = sum(j.left for j in mates) >= places
                if waited >= self._wait_s or full or len(mates) >= self._max_requests:
                    return self._take(first.rule, first.batch_size, places, mates)
                self._cond.wait(self._wait_s - waited)

    def _take(self, rule: DecisionRule, batch_size: int, places: int, mates: list[_Job]) -> _Pass:
        """Fill ``places`` places from ``mates`` (in queue order); requeue those with units left.

        Half the places go to the requests in queue order, the request whose turn it is first:
        every request progresses, however many smaller ones keep arriving. The other half go
        to the requests with the fewest units left, so small requests finish in the next pass.
        At most ``max_requests`` requests share the pass.
        """
        step = _Pass(rule, batch_size)
        shares: dict[int, list[int]] = {}
        budget = {"turns": max(1, places // 2), "all": places}

        def give(job: _Job, count: int, *budgets: str) -> None:
            if id(job) not in shares and len(shares) >= self._max_requests:
                return
            count = min(count, job.left, *(budget[b] for b in budgets))
            if count:
                shares.setdefault(id(job), []).extend(job.order[job.taken : job.taken + count])
                job.taken += count
                for name in budgets:
                    budget[name] -= count

        for job in mates:  # in turn
            give(job, places, "turns", "all")
        for job in sorted(mates, key=lambda j: j.left):  # stable: equal sizes in queue order
            give(job, places, "all")
        step.parts = [(job, shares[id(job)]) for job in mates if id(job) in shares]
        served = {id(job) for job, _ in step.parts}
        # Requests served in this pass go behind the others: the turn passes on.
        rest = [j for j in self._pending if id(j) not in served]
        again = [job for job, _ in step.parts if job.left]
        self._pending = collections.deque(rest + again)
        return step

    @staticmethod
    def _deliver(job: _Job, value: list[Document | None] | BaseException) -> None:
        def settle() -> None:
            if job.future.done():
                return
            if isinstance(value, BaseException):
                job.future.set_exception(value)
            else:
                job.future.set_result(cast(list[Document], value))

        try:
            job.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the request's event loop has closed: nobody is waiting
            pass


async def client_gone(receive: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
    """Return once the ASGI connection says ``http.disconnect`` (after the body was read).

    Args:
        receive: The request's ASGI ``receive`` (``request.receive``).
    """
    while (await receive()).get("type") != "http.disconnect":
        await asyncio.sleep(0.05)  # not a disconnect: ask again, without spinning
