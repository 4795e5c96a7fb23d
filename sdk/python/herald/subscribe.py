"""``subscribe()``: a blocking iterator over a channel's Server-Sent Events that resumes across hub
restarts and network trouble, with no gap and no duplicate, and says so when it cannot."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from typing import Iterator, Optional, Tuple

from ._backoff import Backoff
from ._http import Credential, HubAddress, base_headers, default_url, describe_network_error
from ._stream import Item, StreamState
from .errors import HeraldError, HubUnreachable

#: Reconnect delays: 0.5 s growing to 15 s, full jitter (the hub's own ``retry: 1000`` is for browsers).
DEFAULT_STREAM_RETRY = Backoff(0.5, 15.0)
#: The hub sends a heartbeat event every heartbeat interval (25 s by default): silence longer than this is a dead link.
DEFAULT_IDLE_TIMEOUT = 60.0


class Subscription(Iterator[Item]):
    """Iterate to receive :class:`herald.Event` items in offset order, and a :class:`herald.Reset`
    whenever the hub answered ``recovered:false``. With ``ephemeral=True`` also :class:`herald.Ephemeral`
    items (events published with ``ephemeral: true``: live only, no offset), where they came among the
    events; without it they are skipped, so code that expects only events and resets is unaffected.

    Blocks while waiting. Reconnects by itself (``Last-Event-ID``) after a dropped stream, a restarted
    hub, 5xx or 429; raises :class:`HeraldError` for refusals no retry changes (``unauthorized``,
    ``forbidden``, ``invalid_channel``, ``bad_request``). ``close()`` (from any thread) ends the
    iteration; so does leaving a ``with`` block.
    """

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
        self._lock = threading.Lock()
        self._conn: Optional[http.client.HTTPConnection] = None
        self._closed = False
        self._items = self._generate()

    @property
    def channel(self) -> str:
        return self._state.channel

    @property
    def position(self) -> Optional[Tuple[str, int]]:
        """``(epoch, offset)`` of the last event delivered (exact channels), what a resume starts from."""
        return self._state.position

    @property
    def recovered(self) -> Optional[bool]:
        """The last ``subscribed`` reply's ``recovered``: ``True`` if the gap was filled, ``False`` if
        not (a :class:`Reset` was yielded), ``None`` for a live-only start."""
        return self._state.recovered

    @property
    def subscribed(self) -> bool:
        """Whether the current stream is open and the hub has answered ``subscribed`` (every event
        published from then on will be delivered)."""
        return self._state.subscribed is not None

    @property
    def connections(self) -> int:
        """How many times the stream was opened (1 + reconnects)."""
        return self._state.connections

    def __iter__(self) -> "Subscription":
        return self

    def __next__(self) -> Item:
        return next(self._items)

    def close(self) -> None:
        """Ends the iteration (safe from another thread, and twice)."""
        with self._lock:
            self._closed = True
            conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)  # wakes a reader blocked in recv
            except OSError:
                pass
        try:
            self._items.close()
        except ValueError:
            pass  # running in another thread: it stops at its next read

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _generate(self) -> Iterator[Item]:
        attempt = 0
        while not self._closed:
            try:
                for item in self._stream_once():
                    attempt = 0
                    yield item
                if self._closed:
                    return
                failure: HeraldError = HubUnreachable(f"the stream from {self._address.url} ended")
            except HeraldError as error:
                if self._closed:
                    return
                if not error.retryable:
                    raise
                failure = error
            if not self._reconnect:
                raise failure
            delay = max(self._retry.delay(attempt), failure.retry_after or 0.0)
            attempt += 1
            deadline = time.monotonic() + delay
            while not self._closed and time.monotonic() < deadline:
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return

    def _stream_once(self) -> Iterator[Item]:
        path, headers = self._state.request()
        conn = self._address.connect(self._timeout)
        with self._lock:
            if self._closed:
                return
            self._conn = conn
        try:
            try:
                conn.request("GET", self._address.prefix + path, headers={**base_headers(self._api_key), **headers})
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as error:
                raise HubUnreachable(f"could not open the stream at {self._address.url} ({describe_network_error(error)})") from None
            if response.status != 200:
                body = response.read()
                # Retryable (5xx, 429 too_many_connections) or not (401, 403, 400): _generate decides.
                raise HeraldError.from_response(response.status, body, {k.lower(): v for k, v in response.getheaders()})
            if conn.sock is not None:
                conn.sock.settimeout(self._idle_timeout)
            while True:
                try:
                    raw = response.readline()
                except (OSError, http.client.HTTPException, ValueError):
                    return  # dropped (or closed by close()): the caller reconnects
                if not raw:
                    return
                for item in self._state.feed(raw.decode("utf-8").rstrip("\r\n")):
                    yield item
        finally:
            self._state.disconnected()
            with self._lock:
                self._conn = None
            conn.close()


def subscribe(channel: str, *, url: Optional[str] = None, **options: object) -> Subscription:
    """Subscribes to ``channel`` (or a pattern such as ``runs.>``, live only) over Server-Sent Events.

    ``since=N`` starts with the stored events after offset ``N`` (``0``: the whole retained history);
    pass ``epoch`` too when you saved one, so that a channel that started over is reported as a
    :class:`Reset` rather than replayed from the wrong history. See :class:`Subscription`.

    ::

        for item in herald.subscribe("runs.build-42", since=0):
            if isinstance(item, herald.Reset):
                reload()
            else:
                print(item.offset, item.type, item.data)
    """
    return Subscription(channel, url=url, **options)  # type: ignore[arg-type]
