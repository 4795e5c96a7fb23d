"""The threaded publisher: ``publish`` queues and returns at once; one background thread sends."""

from __future__ import annotations

import atexit
import logging
import threading
import time
import uuid
import weakref
from typing import TYPE_CHECKING, Any, Callable, List, Mapping, Optional

from ._backoff import Backoff
from .attachments import Attachment, FileLike, read_file, upload_with_retry
from ._batching import OVERFLOW_POLICIES, Batches, Dropped, Entry, batch_body
from ._http import Credential, HttpSession, HubAddress, Outcome, channel_path, default_url, publish_outcome
from ._rules import MAX_BATCH, check_channel, check_event, encode_event
from .errors import HeraldError, HubUnreachable, PublisherClosed, QueueFull

if TYPE_CHECKING:
    from .runs import Run

log = logging.getLogger("herald")

#: Defaults shared with the JS publisher (``packages/client/src/publisher.ts``).
DEFAULT_MAX_BATCH = 100
DEFAULT_FLUSH_INTERVAL = 0.02
DEFAULT_MAX_QUEUED = 100_000
DEFAULT_TIMEOUT = 10.0
DEFAULT_EXIT_TIMEOUT = 10.0

DropHandler = Callable[[Dropped], None]


def default_on_drop(dropped: Dropped) -> None:
    log.warning("herald: %d event(s) for %s will not be sent: %s", len(dropped.events), dropped.channel, dropped.reason)


class PublisherOptions:
    """Validated options shared by :class:`Publisher` and :class:`herald.AsyncPublisher`."""

    def __init__(
        self,
        url: Optional[str],
        api_key: Credential,
        max_batch: int,
        flush_interval: float,
        max_queued: int,
        when_full: str,
        retry: Backoff,
        timeout: float,
        on_drop: Optional[DropHandler],
        source: Optional[str],
    ) -> None:
        self.address = HubAddress.parse(url or default_url())
        if not isinstance(max_batch, int) or not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be a whole number from 1 to {MAX_BATCH} (the hub's batch limit), not {max_batch!r}")
        if not flush_interval >= 0:
            raise ValueError(f"flush_interval is in seconds and at least 0, not {flush_interval!r}")
        if not isinstance(max_queued, int) or max_queued < 1:
            raise ValueError(f"max_queued must be a whole number of at least 1, not {max_queued!r}")
        if when_full not in OVERFLOW_POLICIES:
            raise ValueError(f"when_full must be one of {', '.join(OVERFLOW_POLICIES)}, not {when_full!r}")
        if not timeout > 0:
            raise ValueError(f"timeout is in seconds and more than 0, not {timeout!r}")
        self.api_key = api_key
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        self.max_queued = max_queued
        self.when_full = when_full
        self.retry = retry
        self.timeout = timeout
        self.on_drop = on_drop or default_on_drop
        self.source = source
        # Ids are <publisher>-<n>: unique per publisher, so a retried request stores nothing twice.
        self.id_prefix = uuid.uuid4().hex[:12]

    def prepare(self, channel: str, event: Mapping[str, Any], seq: int) -> tuple[dict, str]:
        check_channel(channel)
        copy = check_event(event)
        if "id" not in copy:
            copy["id"] = f"{self.id_prefix}-{seq}"
        if self.source is not None and "source" not in copy:
            copy["source"] = self.source
        return copy, encode_event(copy)

    def report(self, dropped: Dropped) -> None:
        try:
            self.on_drop(dropped)
        except Exception:  # a failing callback must not stop the sender
            log.exception("herald: on_drop raised")


class Publisher:
    """Sends events to a Herald hub from any thread: batched per channel, retried with backoff, stored
    exactly once (each event gets an idempotency id when it is published), in publish order per channel.

    A hub restart or a network blip only delays events. ``publish`` never does I/O; a daemon thread sends.

    :param url: the hub's base URL, e.g. ``http://127.0.0.1:7070`` (default ``$HERALD_URL``, else that).
    :param api_key: an API key or token (or a function returning one), sent as ``Authorization: Bearer``;
        defaults to ``$HERALD_API_KEY``. A key that may only publish is enough.
    :param max_batch: most events per request (1–1000).
    :param flush_interval: seconds an event may wait for others to share its request.
    :param max_queued: most unacknowledged events held (while the hub is away, say).
    :param when_full: what ``publish`` does past ``max_queued``: ``"drop_oldest"`` (default, as the JS
        publisher: the oldest event not being sent is dropped and reported to ``on_drop``), ``"raise"``
        (:class:`QueueFull`, nothing queued) or ``"block"`` (wait for room up to ``block_timeout``, then
        :class:`QueueFull`).
    :param retry: backoff between retries (default 0.25 s growing to 5 s, full jitter); a 429's
        ``Retry-After`` is always waited for.
    :param timeout: seconds one request may take.
    :param on_drop: called (from the sender thread) with :class:`Dropped` for events that will not be
        sent: refused by the hub (4xx — each event of a refused batch is tried alone, so only the bad
        one is dropped), overflowed, or left when ``close`` timed out. Defaults to a logged warning.
    :param source: set as every event's ``source`` unless it has one.
    :param exit_timeout: at interpreter exit, how long to keep trying to deliver what is queued (seconds;
        ``None`` to not wait).
    """

    def __init__(
        self,
        url: Optional[str] = None,
        *,
        api_key: Credential = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        max_queued: int = DEFAULT_MAX_QUEUED,
        when_full: str = "drop_oldest",
        block_timeout: Optional[float] = None,
        retry: Backoff = Backoff(),
        timeout: float = DEFAULT_TIMEOUT,
        on_drop: Optional[DropHandler] = None,
        source: Optional[str] = None,
        exit_timeout: Optional[float] = DEFAULT_EXIT_TIMEOUT,
    ) -> None:
        self._options = PublisherOptions(url, api_key, max_batch, flush_interval, max_queued, when_full, retry, timeout, on_drop, source)
        self._block_timeout = block_timeout
        self._batches = Batches(max_batch=max_batch, max_queued=max_queued, flush_interval=flush_interval, backoff=retry)
        self._cond = threading.Condition()
        self._closed = False
        self._stopping = False
        self._give_up_at: Optional[float] = None
        self._thread: Optional[threading.Thread] = None
        if exit_timeout is not None:
            ref = weakref.ref(self)
            self._exit_hook: Optional[Callable[[], None]] = lambda: (lambda p: p and p.close(timeout=exit_timeout))(ref())
            atexit.register(self._exit_hook)
        else:
            self._exit_hook = None

    # --- public API ---------------------------------------------------------------------------------

    def publish(self, channel: str, event: Mapping[str, Any]) -> None:
        """Queues ``event`` (``{"type", "severity"?, "data"?, "ts"?, "id"?, "source"?}``) for ``channel``.

        Returns at once. Raises ``ValueError``/``TypeError`` for an invalid channel or event,
        :class:`PublisherClosed` after :meth:`close`, and :class:`QueueFull` per ``when_full``.
        """
        dropped: Optional[Entry] = None
        with self._cond:
            if self._closed:
                raise PublisherClosed("the publisher is closed; create a new one to publish again")
            if self._batches.full:
                dropped = self._make_room()
            copy, encoded = self._options.prepare(channel, event, self._batches.next_seq())
            self._batches.add(channel, copy, encoded)
            self._ensure_sender()
            self._cond.notify_all()
        if dropped is not None:
            self._options.report(Dropped(dropped.channel, [dropped.event], f"more than {self._options.max_queued} events queued (when_full='drop_oldest')", QueueFull("queue full")))

    def publish_many(self, channel: str, events: List[Mapping[str, Any]]) -> None:
        """Queues several events for one channel, in order."""
        for event in events:
            self.publish(channel, event)

    def upload(self, channel: str, file: FileLike, *, content_type: Optional[str] = None, name: Optional[str] = None, timeout: float = 60.0) -> Attachment:
        """Uploads a file (a path, or bytes) as an attachment of ``channel`` and returns the hub's
        record; publish an event with ``data={"attachments": [attachment.ref], …}`` to show it.

        Unlike :meth:`publish` this waits for the answer (on the calling thread): an event that
        references the file should be published only once the hub holds it. Network errors and busy
        hubs are retried with the publisher's backoff for up to ``timeout`` seconds (the hub names the
        file by its hash, so a retry stores nothing twice); refusals raise :class:`HeraldError` at once.
        """
        data, name, content_type = read_file(file, name, content_type)
        session = HttpSession(self._options.address, self._options.api_key, self._options.timeout)
        try:
            return upload_with_retry(session, channel, data, name, content_type, self._options.retry, timeout)
        finally:
            session.close()

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until every event published before this call is acknowledged by the hub (or dropped).
        Returns ``False`` if ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            mark = self._batches.next_seq() - 1
            self._batches.urgent += 1
            self._cond.notify_all()
            try:
                while not self._batches.settled_up_to(mark):
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return True
            finally:
                self._batches.urgent -= 1

    def close(self, timeout: Optional[float] = None) -> bool:
        """Flushes, then stops the sender. Returns ``False`` if ``timeout`` passed with events still
        unacknowledged; those are handed to ``on_drop``. Safe to call twice."""
        with self._cond:
            self._closed = True
            if timeout is not None:
                self._give_up_at = time.monotonic() + timeout
        if self._exit_hook is not None:
            atexit.unregister(self._exit_hook)
            self._exit_hook = None
        flushed = self.flush(timeout)
        with self._cond:
            self._stopping = True
            left = self._batches.drain_all()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self._options.timeout + 1)
        for channel, entries, error in left:
            self._options.report(Dropped(channel, [e.event for e in entries], "the publisher was closed before the hub took them", error))
        return flushed and not left

    @property
    def queued(self) -> int:
        """Events not yet acknowledged."""
        with self._cond:
            return self._batches.queued

    @property
    def acknowledged(self) -> int:
        """Events the hub has acknowledged so far."""
        with self._cond:
            return self._batches.acknowledged

    def run(self, run_id: Optional[str] = None, **kwargs: Any) -> "Run":
        """A :class:`herald.Run` on channel ``runs.<run_id>``, for use as ``with publisher.run(...) as run:``."""
        from .runs import Run

        return Run(self.publish, run_id, **kwargs)

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------------------------

    def _make_room(self) -> Optional[Entry]:
        policy = self._options.when_full
        if policy == "raise":
            raise QueueFull(f"{self._options.max_queued} events are waiting for the hub (max_queued); nothing was queued")
        if policy == "block":
            if self._thread is threading.current_thread():
                raise QueueFull("publish with when_full='block' from on_drop would wait for itself")
            deadline = None if self._block_timeout is None else time.monotonic() + self._block_timeout
            while self._batches.full and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise QueueFull(f"no room within {self._block_timeout} s: {self._options.max_queued} events are waiting for the hub")
                self._cond.wait(remaining)
            if self._closed:
                raise PublisherClosed("the publisher was closed while publish waited for room")
            return None
        return self._batches.drop_oldest()

    def _ensure_sender(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._send_loop, name="herald-publisher", daemon=True)
            self._thread.start()

    def _send_loop(self) -> None:
        session = HttpSession(self._options.address, self._options.api_key, self._options.timeout)
        try:
            while True:
                with self._cond:
                    work = None
                    while work is None:
                        if self._stopping:
                            return
                        if self._give_up_at is not None and time.monotonic() >= self._give_up_at:
                            self._cond.wait(0.05)  # close() is about to take what is left
                            continue
                        work, wait = self._batches.take(time.monotonic())
                        if work is None:
                            self._cond.wait(wait)
                channel, batch = work
                outcome = self._send(session, channel, batch)
                with self._cond:
                    dropped = self._batches.settle(channel, outcome.kind, outcome.error, time.monotonic())
                    self._cond.notify_all()
                if dropped is not None:
                    self._options.report(dropped)
        finally:
            session.close()

    def _send(self, session: HttpSession, channel: str, batch: List[Entry]) -> Outcome:
        try:
            answer = session.request("POST", channel_path(channel, "events"), batch_body(batch))
        except HubUnreachable as error:
            return Outcome("retry", error)
        return publish_outcome(answer)
