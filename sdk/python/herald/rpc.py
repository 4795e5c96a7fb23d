"""Request/reply over HTTP (docs/http-api.md#requests): ``Client.request`` asks whoever serves a
channel and waits for the answer; ``Client.serve`` answers a channel's requests from a daemon thread
that long-polls the hub, so a backend with only the standard library (no WebSocket) can be a responder."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional
from urllib.parse import quote, urlencode

from ._backoff import Backoff
from ._http import Credential, HttpSession, HubAddress, base_headers, channel_path, describe_network_error
from ._rules import check_channel, check_client_id
from .errors import HeraldError, HubUnreachable

#: The longest the hub holds a request (``timeoutMs`` 60 000).
MAX_REQUEST_TIMEOUT = 60.0
#: How long one responder poll is held (the hub caps it at its ``--poll-wait``). The hub forgets a
#: responder 5 s after a poll returns with none after it, so the loop polls again at once.
POLL_WAIT = 20.0
#: Poll retry delays after network trouble or a 5xx, as the SSE subscription's.
DEFAULT_SERVE_RETRY = Backoff(0.5, 15.0)
#: What the hub needs beyond the wait itself to answer, before a socket read counts as a dead link.
_ANSWER_MARGIN = 10.0


@dataclass(frozen=True)
class RequestInfo:
    """What a ``serve`` handler is told besides the data: the request's ``type``, the concrete
    ``channel`` it was sent to (the served one may be a pattern), its ``request_id``, who sent it
    (``sender``: ``{"clientId"?, "user"?}``) and its ``deadline`` (ms since the epoch, the hub's clock)."""

    type: str
    channel: str
    request_id: str
    sender: Mapping[str, Any]
    deadline: int


#: Answers one request: the return value is the reply's data; an exception refuses it with ``str(exc)``.
Handler = Callable[[Any, RequestInfo], Any]


def request_once(address: HubAddress, credential: Credential, channel: str, type: str, data: Any, timeout: float) -> Any:
    """One ``POST …/requests``, never sent twice (the responder may have acted on it)."""
    check_channel(channel)
    if not 0 < timeout <= MAX_REQUEST_TIMEOUT:
        raise ValueError(f"timeout is in seconds, more than 0 and at most {MAX_REQUEST_TIMEOUT:g} (got {timeout!r})")
    body: Dict[str, Any] = {"type": type, "timeoutMs": max(1, round(timeout * 1000))}
    if data is not None:
        body["data"] = data
    # A session of its own: the socket must wait longer than the hub holds the request.
    session = HttpSession(address, credential, timeout + _ANSWER_MARGIN)
    try:
        answer = session.request("POST", channel_path(channel, "requests"), json.dumps(body).encode("utf-8"))
    finally:
        session.close()
    if not answer.ok:
        raise answer.error()
    return answer.json().get("data")


class Serving:
    """A running ``Client.serve``: a daemon thread that long-polls for requests and hands each to the
    handler on a small pool of threads (``concurrency``), so that a slow handler does not keep the loop
    from polling. ``stop()`` (or leaving a ``with`` block) ends it; requests the hub hands to it in the
    5 s after that get ``no_responder``.

    A refusal no retry changes (``unauthorized``, ``forbidden``, ``invalid_channel``) ends the loop and
    is kept in :attr:`error`; network trouble and 5xx are retried with backoff."""

    def __init__(
        self,
        address: HubAddress,
        credential: Credential,
        channel: str,
        handler: Handler,
        *,
        responder: Optional[str] = None,
        concurrency: int = 4,
        wait: float = POLL_WAIT,
        retry: Backoff = DEFAULT_SERVE_RETRY,
    ) -> None:
        check_channel(channel, allow_pattern=True)
        if responder is not None:
            check_client_id(responder)
        if not 0 <= wait <= POLL_WAIT:
            raise ValueError(f"wait is in seconds, from 0 to {POLL_WAIT:g} (got {wait!r})")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1 (got {concurrency!r})")
        self.channel = channel
        self.error: Optional[HeraldError] = None
        self._address = address
        self._credential = credential
        self._handler = handler
        self._query = urlencode({"wait": round(wait * 1000), "limit": concurrency, **({"responder": responder} if responder else {})})
        self._retry = retry
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._conn: Optional[http.client.HTTPConnection] = None
        self._wait = wait
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"herald-serve-{channel}")
        self._thread = threading.Thread(target=self._loop, name=f"herald-serve {channel}", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the poll loop still runs."""
        return self._thread.is_alive()

    def stop(self, timeout: Optional[float] = 5.0) -> None:
        """Ends the loop (safe twice, and from any thread) and waits up to ``timeout`` for its thread.
        Handlers still running finish on their own threads and their replies are still sent."""
        self._stopped.set()
        with self._lock:
            conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)  # wakes the poll blocked in recv
            except OSError:
                pass
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False)

    def __enter__(self) -> "Serving":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        attempt = 0
        while not self._stopped.is_set():
            try:
                requests = self._poll()
                attempt = 0
            except HeraldError as error:
                if self._stopped.is_set():
                    break
                if not error.retryable:
                    self.error = error
                    break
                if self._stopped.wait(max(self._retry.delay(attempt), error.retry_after or 0.0)):
                    break
                attempt += 1
                continue
            for request in requests:
                try:
                    self._pool.submit(self._answer, request)
                except RuntimeError:  # stop() shut the pool down meanwhile: the hub answers no_responder
                    return

    def _poll(self) -> List[Dict[str, Any]]:
        conn = self._address.connect(self._wait + _ANSWER_MARGIN)
        try:
            try:
                # Connected before it is registered, so that stop() always finds a socket to shut down.
                conn.connect()
                with self._lock:
                    if self._stopped.is_set():
                        return []
                    self._conn = conn
                conn.request("GET", self._address.prefix + channel_path(self.channel, "requests") + "?" + self._query, headers=base_headers(self._credential))
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as error:
                raise HubUnreachable(f"no answer from {self._address.url} ({describe_network_error(error)})") from None
            if response.status != 200:
                raise HeraldError.from_response(response.status, body, {k.lower(): v for k, v in response.getheaders()})
            return list(json.loads(body).get("requests", []))
        finally:
            with self._lock:
                self._conn = None
            conn.close()

    def _answer(self, request: Mapping[str, Any]) -> None:
        info = RequestInfo(str(request.get("type")), str(request.get("channel")), str(request.get("requestId")), request.get("from") or {}, int(request.get("deadline") or 0))
        refused = False
        try:
            result = self._handler(request.get("data"), info)
            encoded = json.dumps({} if result is None else {"data": result}, allow_nan=False).encode("utf-8")
        except Exception as exc:  # noqa: BLE001 — any failure of the handler is the requester's answer
            refused = True
            encoded = json.dumps({"error": str(exc) or type(exc).__name__}).encode("utf-8")
        # One connection per reply, closed after it: nothing is left open when the responder stops.
        session = HttpSession(self._address, self._credential, _ANSWER_MARGIN)
        path = channel_path(info.channel, f"requests/{quote(info.request_id, safe='')}/reply")
        try:
            answer = session.request("POST", path, encoded)
            if not answer.ok and not refused and answer.status in (400, 413):
                # The hub cannot take this reply (too large, too deep): the requester still gets an answer.
                session.request("POST", path, json.dumps({"error": f"the reply was refused: {answer.error().message}"}).encode("utf-8"))
        except HeraldError:
            pass  # the hub is gone: it told the requester no_responder (or it timed out) already
        finally:
            session.close()
