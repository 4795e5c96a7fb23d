"""The hub's HTTP API over the standard library (``http.client``): addresses, credentials, one
request with its outcome, and what a publish answer means for a retry."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Union
from urllib.parse import quote, urlsplit

from .errors import HeraldError, HubUnreachable, is_retryable_status

#: An API key or token, or a function that returns one (called for every request, so a token can be
#: renewed); ``None`` reads ``$HERALD_API_KEY``.
Credential = Union[str, Callable[[], Optional[str]], None]

USER_AGENT = "herald-python/0.1"
DEFAULT_URL = "http://127.0.0.1:7070"


def default_url() -> str:
    """``$HERALD_URL``, else ``http://127.0.0.1:7070`` (as the ``herald`` CLI)."""
    return os.environ.get("HERALD_URL") or DEFAULT_URL


@dataclass(frozen=True)
class HubAddress:
    """The hub's base URL split into what a connection needs."""

    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, url: str) -> "HubAddress":
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the hub's URL must look like http://127.0.0.1:7070, not {url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"the hub's URL takes no query or fragment: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.prefix}"

    def connect(self, timeout: Optional[float]) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=ssl.create_default_context())
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


def channel_path(channel: str, suffix: str) -> str:
    """``/api/channels/<channel>/<suffix>``, the name URL-encoded (patterns hold ``*`` and ``>``)."""
    return f"/api/channels/{quote(channel, safe='')}/{suffix}"


def resolve_credential(credential: Credential) -> Optional[str]:
    if credential is None:
        return os.environ.get("HERALD_API_KEY") or None
    if callable(credential):
        return credential() or None
    return credential or None


def base_headers(credential: Credential) -> Dict[str, str]:
    headers = {"user-agent": USER_AGENT}
    token = resolve_credential(credential)
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers


@dataclass
class Answer:
    status: int
    headers: Dict[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body)

    def error(self) -> HeraldError:
        return HeraldError.from_response(self.status, self.body, self.headers)


class HttpSession:
    """One keep-alive connection to the hub, opened again when it breaks. Not thread-safe: each thread
    (the publisher's sender, a caller) uses its own."""

    def __init__(self, address: HubAddress, credential: Credential, timeout: float) -> None:
        self.address = address
        self.credential = credential
        self.timeout = timeout
        self._conn: Optional[http.client.HTTPConnection] = None

    def request(self, method: str, path: str, body: Optional[bytes] = None, headers: Optional[Mapping[str, str]] = None) -> Answer:
        """Sends one request; raises :class:`HubUnreachable` when no answer came. A connection that the
        hub closed while idle is retried once on a fresh one (nothing was received, so nothing is lost;
        publishes are idempotent anyway)."""
        all_headers = base_headers(self.credential)
        if body is not None:
            all_headers["content-type"] = "application/json"
        all_headers.update(headers or {})
        for attempt in (0, 1):
            reused = self._conn is not None
            try:
                if self._conn is None:
                    self._conn = self.address.connect(self.timeout)
                self._conn.request(method, self.address.prefix + path, body=body, headers=all_headers)
                response = self._conn.getresponse()
                data = response.read()
                answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
                if response.will_close:
                    self.close()
                return answer
            except (OSError, http.client.HTTPException) as error:
                self.close()
                if attempt == 0 and reused and isinstance(error, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
                    continue
                raise HubUnreachable(f"no answer from {self.address.url} ({describe_network_error(error)})") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def describe_network_error(error: BaseException) -> str:
    if isinstance(error, socket.timeout):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return f"{type(error).__name__}: {error}".rstrip(": ")


@dataclass(frozen=True)
class Outcome:
    """What a publish answer means: ``ok``, ``retry`` (after ``error.retry_after`` at least) or ``refused``."""

    kind: str
    error: Optional[HeraldError] = None
    offsets: Optional[list] = None


def publish_outcome(answer: Answer) -> Outcome:
    if answer.ok:
        try:
            offsets = answer.json().get("offsets")
        except ValueError:
            offsets = None
        return Outcome("ok", offsets=offsets)
    error = answer.error()
    return Outcome("retry" if is_retryable_status(answer.status) else "refused", error)
