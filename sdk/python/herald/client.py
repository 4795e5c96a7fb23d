"""``Client``: one request at a time, answers or exceptions — for scripts, tests and health checks.
Backends that publish as they work want :class:`herald.Publisher` instead (batched, retried)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Literal, Mapping, Optional, Sequence, Union, overload
from urllib.parse import quote, urlencode

from ._http import Credential, HttpSession, HubAddress, channel_path, default_url
from ._rules import MAX_BATCH, check_channel, check_client_id, check_event, encode_event
from .attachments import Attachment, FileLike, read_file, upload_once
from .errors import HeraldError
from .rpc import Handler, Serving, request_once

if TYPE_CHECKING:
    from .subscribe import Subscription


@dataclass(frozen=True)
class Published:
    """The hub's answer to a publish: one offset per event, in order, within ``epoch``."""

    channel: str
    epoch: str
    offsets: List[int]


@dataclass(frozen=True)
class EphemeralPublished:
    """The hub's answer to ``publish(…, ephemeral=True)``: ``count`` events were fanned out to the
    channel's live subscribers and not stored (no epoch, no offsets)."""

    channel: str
    count: int


class Client:
    """The hub's HTTP API. Every refusal raises :class:`HeraldError` with the hub's ``code`` (and
    ``retry_after`` for ``rate_limited``); no answer at all raises :class:`herald.HubUnreachable`.
    Nothing is retried here. Thread-safe (one keep-alive connection per thread).

    :param url: the hub's base URL (default ``$HERALD_URL``, else ``http://127.0.0.1:7070``).
    :param api_key: an API key or token, or a function that returns one (default ``$HERALD_API_KEY``).
    """

    def __init__(self, url: Optional[str] = None, *, api_key: Credential = None, timeout: float = 10.0) -> None:
        self.address = HubAddress.parse(url or default_url())
        self.api_key = api_key
        self.timeout = timeout
        self._local = threading.local()
        self._sessions: List[HttpSession] = []
        self._sessions_lock = threading.Lock()
        self._generation = 0

    @property
    def url(self) -> str:
        return self.address.url

    def _session(self) -> HttpSession:
        session = getattr(self._local, "session", None)
        if session is None or getattr(self._local, "generation", None) != self._generation:
            session = self._local.session = HttpSession(self.address, self.api_key, self.timeout)
            self._local.generation = self._generation
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def call(self, method: str, path: str, body: Any = None, *, raw_body: Optional[bytes] = None) -> Any:
        """Sends one request to ``path`` (``/api/…``) and returns the parsed JSON answer."""
        data = raw_body if raw_body is not None else (None if body is None else json.dumps(body).encode("utf-8"))
        answer = self._session().request(method, path, data)
        if not answer.ok:
            raise answer.error()
        return answer.json() if answer.body else None

    @overload
    def publish(self, channel: str, events: Union[Mapping[str, Any], Sequence[Mapping[str, Any]]], *, ephemeral: Literal[False] = ...) -> Published: ...
    @overload
    def publish(self, channel: str, events: Union[Mapping[str, Any], Sequence[Mapping[str, Any]]], *, ephemeral: Literal[True]) -> EphemeralPublished: ...

    def publish(self, channel: str, events: Union[Mapping[str, Any], Sequence[Mapping[str, Any]]], *, ephemeral: bool = False) -> Union[Published, EphemeralPublished]:
        """Publishes one event or a list of at most 1 000, all or nothing, and returns their offsets.
        An event whose ``id`` is already stored gets its original offset and is not stored again.

        ``ephemeral=True``: the events are fanned out to the channel's live subscribers and not stored
        (cursors, typing, live previews) — no offsets, never in history; returns
        :class:`EphemeralPublished`. Checked, permitted and rate-limited like stored events."""
        check_channel(channel)
        batch = [events] if isinstance(events, Mapping) else list(events)
        if not 1 <= len(batch) <= MAX_BATCH:
            raise ValueError(f"publish takes 1 to {MAX_BATCH} events, not {len(batch)}")
        body = ("[" + ",".join(encode_event(check_event(e)) for e in batch) + "]").encode("utf-8")
        if ephemeral:
            answer = self.call("POST", channel_path(channel, "events") + "?ephemeral=true", raw_body=body)
            return EphemeralPublished(answer["channel"], int(answer["count"]))
        answer = self.call("POST", channel_path(channel, "events"), raw_body=body)
        return Published(answer["channel"], answer["epoch"], list(answer["offsets"]))

    def send(self, client_id: str, event: Mapping[str, Any]) -> str:
        """Sends one event to one client id alone (a direct message, never stored) and returns
        ``"delivered"`` (written to its WebSocket connection) or ``"queued"`` (it is away; it gets the
        message when it reconnects within the hub's window). Raises :class:`HeraldError`
        ``unknown_client`` (404) when no connection has the id, ``forbidden`` without publish permission
        on ``clients.<client_id>``. Not retried: a direct message has no idempotency id."""
        check_client_id(client_id)
        body = encode_event(check_event(event)).encode("utf-8")
        answer = self.call("POST", f"/api/clients/{quote(client_id, safe='')}/events", raw_body=body)
        return str(answer["status"])

    def request(self, channel: str, type: str, data: Any = None, *, timeout: float = 10.0) -> Any:
        """Asks whoever serves ``channel`` (a :meth:`serve` here or elsewhere, a JS ``client.serve``)
        and returns its reply's data, waiting at most ``timeout`` seconds (at most 60). Raises
        :class:`HeraldError` ``no_responder`` (503), ``timeout`` (504), ``responder_error`` (502, the
        responder's sentence) or ``forbidden``. Never sent twice: the responder may have acted on it."""
        return request_once(self.address, self.api_key, channel, type, data, timeout)

    def serve(self, channel: str, handler: Handler, *, responder: Optional[str] = None, concurrency: int = 4) -> Serving:
        """Answers the requests sent to ``channel`` (a name or a pattern) from a daemon thread until
        ``stop()``: ``handler(data, info)`` returns the reply's data, an exception refuses the request
        with ``str(exc)`` (the requester gets ``responder_error``). ``responder`` names this responder
        among others with the same credentials (each gets its share of the requests). See
        :class:`herald.Serving`."""
        return Serving(self.address, self.api_key, channel, handler, responder=responder, concurrency=concurrency)

    def upload(self, channel: str, file: "FileLike", *, content_type: Optional[str] = None, name: Optional[str] = None) -> "Attachment":
        """Uploads a file (a path, or bytes) as an attachment of ``channel``, once, and returns the
        hub's record; ``.ref`` goes in an event's ``data["attachments"]``. The content type defaults to
        the one of the name's extension. Refusals raise :class:`HeraldError`: ``attachment_too_large``
        (413), ``attachment_type_not_allowed`` (415), ``forbidden`` (403, no publish permission)…"""
        data, name, content_type = read_file(file, name, content_type)
        return upload_once(self._session(), channel, data, name, content_type)

    def history(self, channel: str, *, since: int = 0, limit: int = 100) -> Dict[str, Any]:
        """One page of stored events after offset ``since``: ``{"epoch","latest","earliest","events","next"}``."""
        check_channel(channel)
        return self.call("GET", channel_path(channel, "events") + "?" + urlencode({"since": since, "limit": limit}))

    def read_all(self, channel: str, *, since: int = 0, page: int = 1000) -> List[Dict[str, Any]]:
        """Every retained event after ``since``, oldest first, read a page at a time."""
        out: List[Dict[str, Any]] = []
        while True:
            answer = self.history(channel, since=since, limit=page)
            out.extend(answer["events"])
            if not answer["events"] or answer["next"] >= answer["latest"]:
                return out
            since = answer["next"]

    def delete_channel(self, channel: str) -> Dict[str, Any]:
        """Drops the channel's history and starts a new epoch (admin permission on secured hubs)."""
        check_channel(channel)
        return self.call("DELETE", f"/api/channels/{quote(channel, safe='')}")

    def run_snapshot(self, run_id: str, *, steps: Optional[int] = None) -> Dict[str, Any]:
        """The run's snapshot (``GET /api/runs/{id}``); ``not_found`` for a run with no events."""
        query = "" if steps is None else "?" + urlencode({"steps": steps})
        return self.call("GET", f"/api/runs/{quote(run_id, safe='')}{query}")

    def runs(self, **query: Any) -> Dict[str, Any]:
        """A page of run summaries (``status``, ``label``, ``q``, ``limit``, ``cursor``)."""
        clean = {k: v for k, v in query.items() if v is not None}
        return self.call("GET", "/api/runs" + ("?" + urlencode(clean) if clean else ""))

    def health(self) -> Dict[str, Any]:
        """``GET /health``: ``{"status": "ok" | "degraded" | …}`` (public)."""
        answer = self._session().request("GET", "/health")
        return answer.json()

    def me(self) -> Dict[str, Any]:
        """Who these credentials act as (``GET /api/auth/me``)."""
        return self.call("GET", "/api/auth/me")

    def subscribe(self, channel: str, **options: Any) -> "Subscription":
        """:func:`herald.subscribe` with this client's URL and credentials."""
        from .subscribe import Subscription

        return Subscription(channel, url=self.address.url, api_key=self.api_key, **options)

    def close(self) -> None:
        """Closes the keep-alive connections of every thread that used this client (it can be used again)."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
            self._generation += 1
        for session in sessions:
            session.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

