"""The publisher's queue: per-channel FIFO queues, batches, retry timing and the overflow policy.

Pure state with no I/O and no locking, so that the threaded :class:`herald.Publisher` (under its lock)
and the :class:`herald.AsyncPublisher` (on its event loop) share one implementation of the rules that
keep events in order and stored once:

- one batch in flight per channel, taken from the head of its queue, so a channel's order is kept;
- a refused batch (4xx) is sent again one event at a time, so that only the bad event is dropped;
- a batch that failed for a reason that can pass (network, 5xx, 408, 429) waits its channel's backoff,
  at least the hub's ``Retry-After``, while other channels carry on.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, List, Optional, Tuple

from ._backoff import Backoff
from .errors import HeraldError

#: What ``publish`` does when ``max_queued`` events are already waiting.
OVERFLOW_POLICIES = ("drop_oldest", "raise", "block")


@dataclass
class Entry:
    """One queued event, already encoded (so a later change to the caller's dict cannot alter it)."""

    seq: int
    channel: str
    event: Dict[str, Any]
    json: str
    queued_at: float


@dataclass
class _ChannelQueue:
    entries: Deque[Entry] = field(default_factory=deque)
    in_flight: int = 0
    attempt: int = 0
    ready_at: float = 0.0
    #: Entries up to this seq go one at a time (a batch holding them was refused).
    single_until: int = 0
    last_error: Optional[HeraldError] = None


@dataclass(frozen=True)
class Dropped:
    """Events that will not be sent, handed to ``on_drop``: the hub refused them (``error.code`` says
    why, e.g. ``too_large``, ``invalid_event``, ``forbidden``), the queue overflowed, or the publisher
    was closed before the hub took them."""

    channel: str
    events: List[Dict[str, Any]]
    reason: str
    error: Optional[HeraldError] = None


class Batches:
    """Queues of unacknowledged events, one per channel, in publish order."""

    def __init__(self, *, max_batch: int, max_queued: int, flush_interval: float, backoff: Backoff) -> None:
        self.max_batch = max_batch
        self.max_queued = max_queued
        self.flush_interval = flush_interval
        self.backoff = backoff
        self._channels: "OrderedDict[str, _ChannelQueue]" = OrderedDict()
        self._seq = 0
        self.queued = 0
        self.acknowledged = 0
        #: Set while someone waits for a flush: batches go out without waiting for ``flush_interval``.
        self.urgent = 0

    # --- publishing ---------------------------------------------------------------------------------

    def add(self, channel: str, event: Dict[str, Any], encoded: str) -> Entry:
        self._seq += 1
        entry = Entry(self._seq, channel, event, encoded, time.monotonic())
        queue = self._channels.get(channel)
        if queue is None:
            queue = self._channels[channel] = _ChannelQueue()
        queue.entries.append(entry)
        self.queued += 1
        return entry

    def next_seq(self) -> int:
        return self._seq + 1

    @property
    def full(self) -> bool:
        return self.queued >= self.max_queued

    def drop_oldest(self) -> Optional[Entry]:
        """Removes the oldest event that is not being sent right now (the head of some channel)."""
        best: Optional[Tuple[_ChannelQueue, str]] = None
        for name, queue in self._channels.items():
            if len(queue.entries) > queue.in_flight:
                candidate = queue.entries[queue.in_flight]
                if best is None or candidate.seq < best[0].entries[best[0].in_flight].seq:
                    best = (queue, name)
        if best is None:
            return None
        queue, name = best
        entry = queue.entries[queue.in_flight]
        del queue.entries[queue.in_flight]
        self.queued -= 1
        self._forget_if_empty(name)
        return entry

    # --- sending ------------------------------------------------------------------------------------

    def take(self, now: float) -> Tuple[Optional[Tuple[str, List[Entry]]], Optional[float]]:
        """The next batch to send, marked in flight, or ``None`` and how long until one may be ready
        (``None`` when nothing is queued that is not already in flight)."""
        wait: Optional[float] = None
        for name, queue in self._channels.items():
            if queue.in_flight or not queue.entries:
                continue
            head = queue.entries[0]
            if queue.ready_at > now:
                due = queue.ready_at
            elif queue.attempt or self.urgent or len(queue.entries) >= self.max_batch:
                due = now
            else:
                due = head.queued_at + self.flush_interval
            if due <= now:
                size = 1 if head.seq <= queue.single_until else self.max_batch
                batch = list(_head(queue.entries, size))
                queue.in_flight = len(batch)
                # Round robin: the channel goes to the back, so a busy channel cannot starve the others.
                self._channels.move_to_end(name)
                return (name, batch), None
            wait = due - now if wait is None else min(wait, due - now)
        return None, wait

    def acknowledged_batch(self, channel: str) -> None:
        queue = self._channels.get(channel)
        if queue is None:  # drained by close() while the request was out
            return
        for _ in range(queue.in_flight):
            queue.entries.popleft()
        self.queued -= queue.in_flight
        self.acknowledged += queue.in_flight
        queue.in_flight = 0
        queue.attempt = 0
        queue.ready_at = 0.0
        queue.last_error = None
        self._forget_if_empty(channel)

    def refused_batch(self, channel: str, error: HeraldError) -> Optional[List[Entry]]:
        """A 4xx: a batch of several is retried one by one; a single event is dropped (returned)."""
        queue = self._channels.get(channel)
        if queue is None:
            return None
        count = queue.in_flight
        queue.in_flight = 0
        queue.attempt = 0
        queue.ready_at = 0.0
        if count > 1:
            queue.single_until = queue.entries[count - 1].seq
            return None
        dropped = [queue.entries.popleft()]
        self.queued -= 1
        self._forget_if_empty(channel)
        return dropped

    def failed_batch(self, channel: str, error: HeraldError, now: float) -> float:
        """Network trouble, 5xx, 408 or 429: the batch stays at the head; returns the delay chosen."""
        queue = self._channels.get(channel)
        if queue is None:
            return 0.0
        queue.in_flight = 0
        queue.last_error = error
        delay = max(self.backoff.delay(queue.attempt), error.retry_after or 0.0)
        queue.attempt += 1
        queue.ready_at = now + delay
        return delay

    def settle(self, channel: str, kind: str, error: Optional[HeraldError], now: float) -> Optional[Dropped]:
        """Applies a send's outcome (``ok``, ``refused`` or ``retry``, as ``publish_outcome`` says);
        returns what the hub refused for good, for the drop handler."""
        if kind == "ok":
            self.acknowledged_batch(channel)
            return None
        assert error is not None
        if kind == "refused":
            lost = self.refused_batch(channel, error)
            return Dropped(channel, [e.event for e in lost], f"refused by the hub: {error}", error) if lost else None
        self.failed_batch(channel, error, now)
        return None

    def oldest_seq(self) -> Optional[int]:
        """The smallest seq still unacknowledged (flush waits until it passes its mark)."""
        heads = [queue.entries[0].seq for queue in self._channels.values() if queue.entries]
        return min(heads) if heads else None

    def settled_up_to(self, mark: int) -> bool:
        oldest = self.oldest_seq()
        return oldest is None or oldest > mark

    def drain_all(self) -> List[Tuple[str, List[Entry], Optional[HeraldError]]]:
        """Empties every queue (the publisher closed before the hub took them)."""
        left = [(name, list(queue.entries), queue.last_error) for name, queue in self._channels.items() if queue.entries]
        self._channels.clear()
        self.queued = 0
        return left

    def _forget_if_empty(self, channel: str) -> None:
        queue = self._channels.get(channel)
        if queue is not None and not queue.entries and not queue.in_flight:
            del self._channels[channel]


def _head(entries: Deque[Entry], count: int) -> List[Entry]:
    out: List[Entry] = []
    for entry in entries:
        if len(out) == count:
            break
        out.append(entry)
    return out


def batch_body(entries: List[Entry]) -> bytes:
    return ("[" + ",".join(entry.json for entry in entries) + "]").encode("utf-8")
