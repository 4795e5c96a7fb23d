"""asyncio variants, for aiohttp and FastAPI apps: :class:`AsyncPublisher` (same rules as
:class:`herald.Publisher`, one sender task instead of a thread) and :func:`subscribe_async`."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, List, Mapping, Optional, Tuple

from ._aio_http import open_request, request
from ._backoff import Backoff
from ._batching import Batches, Dropped, Entry, batch_body
from ._http import Credential, HubAddress, Outcome, base_headers, channel_path, default_url, publish_outcome
from ._stream import Item, StreamState
from .errors import HeraldError, HubUnreachable, PublisherClosed, QueueFull
from .publisher import DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_BATCH, DEFAULT_MAX_QUEUED, DEFAULT_TIMEOUT, DropHandler, PublisherOptions
from .subscribe import DEFAULT_IDLE_TIMEOUT, DEFAULT_STREAM_RETRY

if TYPE_CHECKING:
    from .runs import Run


class AsyncPublisher:
    """:class:`herald.Publisher` for asyncio: batched per channel, retried with backoff, idempotent
    ids, order kept per channel, bounded queue. ``publish`` is a plain (non-async) call that never
    waits; a task on the running loop sends. Create and use it on one event loop (e.g. in FastAPI's
    lifespan or aiohttp's ``cleanup_ctx``); from other threads use :class:`herald.Publisher`.

    Options are those of :class:`herald.Publisher`, except that ``when_full`` is ``"drop_oldest"`` or
    ``"raise"`` (blocking the loop is never an option; ``await wait_for_room()`` before publishing if
    you would rather wait).
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
        retry: Backoff = Backoff(),
        timeout: float = DEFAULT_TIMEOUT,
        on_drop: Optional[DropHandler] = None,
        source: Optional[str] = None,
    ) -> None:
        if when_full == "block":
            raise ValueError("AsyncPublisher cannot block the event loop: use when_full='drop_oldest' or 'raise', and await wait_for_room()")
        self._options = PublisherOptions(url, api_key, max_batch, flush_interval, max_queued, when_full, retry, timeout, on_drop, source)
        self._batches = Batches(max_batch=max_batch, max_queued=max_queued, flush_interval=flush_interval, backoff=retry)
        self._waiters: "set[asyncio.Future[None]]" = set()
        self._task: Optional["asyncio.Task[None]"] = None
        self._closed = False
        self._give_up_at: Optional[float] = None

    def publish(self, channel: str, event: Mapping[str, Any]) -> None:
        """Queues ``event`` for ``channel`` and returns at once (call it from the event loop's thread).
        Raises ``ValueError``/``TypeError`` for an invalid channel or event, :class:`PublisherClosed`
        after :meth:`close`, :class:`QueueFull` when full and ``when_full="raise"``."""
        if self._closed:
            raise PublisherClosed("the publisher is closed; create a new one to publish again")
        dropped: Optional[Entry] = None
        if self._batches.full:
            if self._options.when_full == "raise":
                raise QueueFull(f"{self._options.max_queued} events are waiting for the hub (max_queued); nothing was queued")
            dropped = self._batches.drop_oldest()
        copy, encoded = self._options.prepare(channel, event, self._batches.next_seq())
        self._batches.add(channel, copy, encoded)
        self._wake()
        if dropped is not None:
            self._options.report(Dropped(dropped.channel, [dropped.event], f"more than {self._options.max_queued} events queued (when_full='drop_oldest')", QueueFull("queue full")))

    async def wait_for_room(self, timeout: Optional[float] = None) -> bool:
        """Waits until fewer than ``max_queued`` events are waiting; ``False`` on timeout."""
        return await self._wait(lambda: not self._batches.full, timeout)

    async def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until every event published before this call is acknowledged (or dropped);
        ``False`` if ``timeout`` seconds passed first."""
        mark = self._batches.next_seq() - 1
        self._batches.urgent += 1
        self._wake()
        try:
            return await self._wait(lambda: self._batches.settled_up_to(mark), timeout)
        finally:
            self._batches.urgent -= 1

    async def close(self, timeout: Optional[float] = None) -> bool:
        """Flushes, then stops the sender task. ``False`` if ``timeout`` passed with events unsent
        (they go to ``on_drop``). Safe to call twice."""
        self._closed = True
        if timeout is not None:
            self._give_up_at = time.monotonic() + timeout
        flushed = await self.flush(timeout)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        left = self._batches.drain_all()
        for channel, entries, error in left:
            self._options.report(Dropped(channel, [e.event for e in entries], "the publisher was closed before the hub took them", error))
        return flushed and not left

    @property
    def queued(self) -> int:
        """Events not yet acknowledged."""
        return self._batches.queued

    @property
    def acknowledged(self) -> int:
        return self._batches.acknowledged

    def run(self, run_id: Optional[str] = None, **kwargs: Any) -> "Run":
        """A :class:`herald.Run` on ``runs.<run_id>``: ``async with publisher.run(...) as run:``."""
        from .runs import Run

        return Run(self.publish, run_id, **kwargs)

    async def __aenter__(self) -> "AsyncPublisher":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- internals ----------------------------------------------------------------------------------

    def _wake(self) -> None:
        self._notify()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._send_loop(), name="herald-publisher")

    async def _wait(self, done: Any, timeout: Optional[float]) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            await self._changed_wait(remaining)
        return True

    async def _changed_wait(self, timeout: Optional[float]) -> None:
        """Sleeps until the next :meth:`_notify` (or ``timeout``). The future is registered before the
        first await, so a notification can never fall between a check and the wait."""
        future: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
        self._waiters.add(future)
        try:
            await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            self._waiters.discard(future)

    def _notify(self) -> None:
        for future in self._waiters:
            if not future.done():
                future.set_result(None)
        self._waiters.clear()

    async def _send_loop(self) -> None:
        while True:
            if self._give_up_at is not None and time.monotonic() >= self._give_up_at:
                return
            work, wait = self._batches.take(time.monotonic())
            if work is None:
                if wait is None and self._batches.queued == 0:
                    await self._changed_wait(None)
                else:
                    await self._changed_wait(wait if wait is not None else 0.05)
                continue
            channel, batch = work
            outcome = await self._send(channel, batch)
            dropped = self._batches.settle(channel, outcome.kind, outcome.error, time.monotonic())
            self._notify()
            if dropped is not None:
                self._options.report(dropped)

    async def _send(self, channel: str, batch: List[Entry]) -> Outcome:
        headers = {**base_headers(self._options.api_key), "content-type": "application/json"}
        try:
            answer = await request(self._options.address, "POST", channel_path(channel, "events"), headers, batch_body(batch), self._options.timeout)
        except HubUnreachable as error:
            return Outcome("retry", error)
        return publish_outcome(answer)


class AsyncSubscription:
    """:class:`herald.Subscription` for asyncio: ``async for item in subscription`` yields
    :class:`herald.Event` and :class:`herald.Reset` items (and :class:`herald.Ephemeral` ones with
    ``ephemeral=True``); it reconnects and resumes by itself.
    Cancel the task or call ``await aclose()`` to stop."""

    def __init__(
        self,
        channel: str,
        *,
        url: Optional[str] = None,
        api_key: Credential = None,
        since: Optional[int] = None,
        epoch: Optional[str] = None,
        reconnect: bool = True,
        retry: Backoff = DEFAULT_STREAM_RETRY,
        timeout: float = 10.0,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        ephemeral: bool = False,
    ) -> None:
        self._state = StreamState(channel, since, epoch, ephemeral=ephemeral)
        self._address = HubAddress.parse(url or default_url())
        self._api_key = api_key
        self._reconnect = reconnect
        self._retry = retry
        self._timeout = timeout
        self._idle_timeout = idle_timeout
        self._items = self._generate()

    @property
    def channel(self) -> str:
        return self._state.channel

    @property
    def position(self) -> Optional[Tuple[str, int]]:
        return self._state.position

    @property
    def recovered(self) -> Optional[bool]:
        return self._state.recovered

    @property
    def subscribed(self) -> bool:
        """Whether the current stream is open and the hub has answered ``subscribed`` (every event
        published from then on will be delivered)."""
        return self._state.subscribed is not None

    @property
    def connections(self) -> int:
        return self._state.connections

    def __aiter__(self) -> "AsyncSubscription":
        return self

    async def __anext__(self) -> Item:
        return await self._items.__anext__()

    async def aclose(self) -> None:
        await self._items.aclose()

    async def __aenter__(self) -> "AsyncSubscription":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _generate(self) -> AsyncIterator[Item]:
        attempt = 0
        while True:
            try:
                async for item in self._stream_once():
                    attempt = 0
                    yield item
                failure: HeraldError = HubUnreachable(f"the stream from {self._address.url} ended")
            except HeraldError as error:
                if not error.retryable:
                    raise
                failure = error
            if not self._reconnect:
                raise failure
            await asyncio.sleep(max(self._retry.delay(attempt), failure.retry_after or 0.0))
            attempt += 1

    async def _stream_once(self) -> AsyncIterator[Item]:
        path, headers = self._state.request()
        response = await open_request(self._address, "GET", path, {**base_headers(self._api_key), **headers}, None, self._timeout)
        try:
            if response.status != 200:
                body = await asyncio.wait_for(response.read(), self._timeout)
                raise HeraldError.from_response(response.status, body, response.headers)
            while True:
                try:
                    raw = await asyncio.wait_for(response.readline(), self._idle_timeout)
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
                    return
                if not raw:
                    return
                for item in self._state.feed(raw.decode("utf-8").rstrip("\r\n")):
                    yield item
        finally:
            self._state.disconnected()
            response.close()


def subscribe_async(channel: str, *, url: Optional[str] = None, **options: Any) -> AsyncSubscription:
    """:func:`herald.subscribe` for asyncio::

        async for item in herald.subscribe_async("runs.build-42", since=0):
            ...
    """
    return AsyncSubscription(channel, url=url, **options)

