"""Attachments: files uploaded to a channel for its events to show (screenshots, reports, logs).

``upload`` sends the bytes as the raw body of ``POST /api/channels/{channel}/attachments`` with their
content type; the hub names them by their SHA-256, so sending the same file again (a retry) stores it
once. Put :attr:`Attachment.ref` in an event's ``data["attachments"]`` to show it (docs/python.md).
"""

from __future__ import annotations

import mimetypes
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional, Union

from ._backoff import Backoff
from ._http import HttpSession, channel_path
from .errors import HeraldError, HubUnreachable, is_retryable_status

#: A path, or the bytes themselves.
FileLike = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]

#: Types the hub takes by default that ``mimetypes`` does not always know.
_TYPES = {".md": "text/markdown", ".log": "text/plain", ".webp": "image/webp", ".gz": "application/gzip"}


@dataclass(frozen=True)
class Attachment:
    """The hub's record of an uploaded file, and the ``name`` events will call it."""

    id: str
    url: str
    size: int
    content_type: str
    sha256: str
    name: str

    @property
    def ref(self) -> Dict[str, Any]:
        """What goes in an event's ``data["attachments"]``: ``{"id", "name", "contentType", "size"}``."""
        return {"id": self.id, "name": self.name, "contentType": self.content_type, "size": self.size}


def content_type_of(name: str) -> str:
    """The content type for a file name (``application/octet-stream`` when unknown)."""
    ext = os.path.splitext(name)[1].lower()
    return _TYPES.get(ext) or mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def read_file(file: FileLike, name: Optional[str], content_type: Optional[str]) -> tuple:
    """The bytes, name and content type of an upload."""
    if isinstance(file, (bytes, bytearray, memoryview)):
        data = bytes(file)
        name = name or "attachment"
    else:
        path = os.fspath(file)
        with open(path, "rb") as handle:
            data = handle.read()
        name = name or os.path.basename(path)
    return data, name, content_type or content_type_of(name)


def upload_once(session: HttpSession, channel: str, data: bytes, name: str, content_type: str) -> Attachment:
    """One upload request; raises :class:`HeraldError` (or :class:`HubUnreachable`)."""
    answer = session.request("POST", channel_path(channel, "attachments"), data, {"content-type": content_type})
    if not answer.ok:
        raise answer.error()
    body = answer.json()
    return Attachment(body["id"], body["url"], body["size"], body["contentType"], body["sha256"], name)


def upload_with_retry(session: HttpSession, channel: str, data: bytes, name: str, content_type: str, retry: Backoff, timeout: float) -> Attachment:
    """Uploads, retrying network errors, 5xx (but 501 ``not_supported``), 408 and 429 (at least its
    ``Retry-After``) for up to ``timeout`` seconds. A refusal raises at once."""
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        try:
            return upload_once(session, channel, data, name, content_type)
        except HeraldError as error:
            retryable = isinstance(error, HubUnreachable) or (error.status is not None and is_retryable_status(error.status) and error.status != 501)
            if not retryable or time.monotonic() > deadline:
                raise
            wait = max(retry.delay(attempt), error.retry_after or 0.0)
            attempt += 1
            time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
