"""Herald's error codes and the exceptions that carry them.

The table mirrors ``packages/protocol/src/codes.ts`` (the one table shared by the hub and every
client); ``tests/test_errors.py`` checks it against ``docs/codes.md`` so the two cannot drift apart.
"""

from __future__ import annotations

import json
from typing import Mapping, Optional

#: Every error code the hub answers, with its HTTP status.
ERROR_STATUS: Mapping[str, int] = {
    "bad_json": 400,
    "bad_request": 400,
    "unknown_op": 400,
    "invalid_channel": 400,
    "invalid_event": 400,
    "too_large": 413,
    "attachment_too_large": 413,
    "attachment_type_not_allowed": 415,
    "not_supported": 501,
    "too_many_events": 400,
    "too_many_subscriptions": 400,
    "already_subscribed": 409,
    "not_subscribed": 404,
    "not_found": 404,
    "unauthorized": 401,
    "forbidden": 403,
    "origin_not_allowed": 403,
    "host_not_allowed": 421,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "too_many_connections": 429,
    "quota_exceeded": 507,
    "storage_unavailable": 503,
    "unknown_client": 404,
    "no_responder": 503,
    "timeout": 504,
    "responder_error": 502,
    "shutting_down": 503,
    "internal": 500,
}

#: The longest the SDK waits because of one ``Retry-After`` (the JS publisher caps it the same way).
MAX_RETRY_AFTER_SECONDS = 60.0


def is_retryable_status(status: int) -> bool:
    """Whether sending the same request again can succeed: 5xx (503 ``storage_unavailable`` and
    ``shutting_down``, 507 ``quota_exceeded``, 500 ``internal``), 408 and 429. Every other 4xx is a
    refusal that no retry changes."""
    return status >= 500 or status in (408, 429)


class HeraldError(Exception):
    """A request the hub refused or could not take.

    ``code`` is one of :data:`ERROR_STATUS` (``None`` when no answer came, see :class:`HubUnreachable`,
    or when something other than the hub answered, such as a proxy),
    ``status`` the HTTP status, ``message`` the hub's sentence, and ``retry_after`` the seconds the hub
    asked to wait (``Retry-After``, sent with ``rate_limited``).
    """

    def __init__(
        self,
        code: Optional[str],
        message: str,
        *,
        status: Optional[int] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(f"{code}: {message}" if code else (f"HTTP {status}: {message}" if status else message))
        self.code = code
        self.message = message
        self.status = status if status is not None else (ERROR_STATUS.get(code) if code else None)
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later (network trouble, 5xx, 408, 429)."""
        return self.status is None or is_retryable_status(self.status)

    @classmethod
    def from_response(cls, status: int, body: bytes, headers: Mapping[str, str]) -> "HeraldError":
        """Builds the error from an HTTP answer ``{"error":{"code","message"}}`` (any other body, for
        example from a proxy, keeps the status and quotes the text)."""
        code: Optional[str] = None
        message = body.decode("utf-8", "replace").strip()[:500] or f"HTTP {status}"
        try:
            parsed = json.loads(body)
            error = parsed.get("error") if isinstance(parsed, dict) else None
            if isinstance(error, dict):
                code = error.get("code") if isinstance(error.get("code"), str) else None
                message = str(error.get("message", message))
        except ValueError:
            pass
        retry_after = _parse_retry_after(headers.get("retry-after"))
        return cls(code, message, status=status, retry_after=retry_after)


class HubUnreachable(HeraldError):
    """No answer came from the hub (connection refused or reset, timeout): always worth retrying."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


class QueueFull(HeraldError):
    """The publisher already holds ``max_queued`` unacknowledged events and its policy is ``"raise"``
    (or ``"block"`` and the wait timed out). The event was not queued."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)
        self.status = None

    @property
    def retryable(self) -> bool:  # publishing again later may fit, but nothing was sent
        return True


class PublisherClosed(RuntimeError):
    """``publish`` after ``close``: the publisher sends nothing more."""


def _parse_retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: the hub never sends one, and guessing would be worse than backoff
    if seconds <= 0:
        return None
    return min(seconds, MAX_RETRY_AFTER_SECONDS)
