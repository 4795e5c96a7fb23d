"""Channel and event rules, checked when ``publish`` is called so that misuse fails at the call site
with a sentence (the hub checks again; these mirror ``packages/protocol/src/channel.ts`` and
``event.ts``)."""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

MAX_CHANNEL_LENGTH = 160
MAX_EVENT_TYPE_LENGTH = 64
MAX_EVENT_ID_LENGTH = 128
MAX_SOURCE_LENGTH = 128
SEVERITIES = ("debug", "info", "success", "warning", "error")
EVENT_FIELDS = frozenset(("type", "severity", "data", "ts", "id", "source"))
#: Most events in one HTTP batch (the hub refuses more with ``too_many_events``).
MAX_BATCH = 1000

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def check_client_id(client_id: object) -> str:
    """Returns ``client_id`` if it is a client id (1-64 characters of ``[A-Za-z0-9_.:-]``); raises ``ValueError``."""
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        raise ValueError("a client id is 1-64 characters of [A-Za-z0-9_.:-], such as 'worker-7'")
    return client_id


def check_channel(name: object, *, allow_pattern: bool = False) -> str:
    """Returns ``name`` if it is a valid channel (or pattern, when allowed); raises ``ValueError``."""
    if not isinstance(name, str) or not name:
        raise ValueError("channel must be a non-empty string such as 'runs.build-42'")
    if len(name) > MAX_CHANNEL_LENGTH:
        raise ValueError(f"channel {name[:40]!r}… is longer than {MAX_CHANNEL_LENGTH} characters")
    segments = name.split(".")
    for index, segment in enumerate(segments):
        if segment in ("*", ">"):
            if not allow_pattern:
                raise ValueError(f"channel {name!r}: wildcard {segment!r} is only allowed when subscribing, not in a channel name")
            if segment == ">" and index != len(segments) - 1:
                raise ValueError(f"channel {name!r}: '>' may only be the last segment")
            continue
        if not _SEGMENT.fullmatch(segment):
            if segment == "":
                raise ValueError(f"channel {name!r} has an empty segment (leading, trailing or double '.')")
            raise ValueError(f"channel {name!r}: segment {segment!r} has characters outside [A-Za-z0-9_-]")
    return name


def is_pattern(name: str) -> bool:
    """Whether ``name`` is a subscription pattern (``runs.*``, ``runs.>``, ``>``)."""
    return any(segment in ("*", ">") for segment in name.split("."))


def check_event(event: object) -> dict[str, Any]:
    """Returns a shallow copy of ``event`` if it follows the event rules; raises ``ValueError``
    (``TypeError`` if it is not a mapping). ``data`` is checked by :func:`encode_event`."""
    if not isinstance(event, Mapping):
        raise TypeError(f"an event is a dict such as {{'type': 'log', 'data': {{'message': 'hi'}}}}, not {type(event).__name__}")
    unknown = [key for key in event if key not in EVENT_FIELDS]
    if unknown:
        raise ValueError(f"unknown event field {unknown[0]!r} (allowed: type, severity, data, ts, id, source)")
    kind = event.get("type")
    if not isinstance(kind, str) or not kind:
        raise ValueError("event['type'] must be a non-empty string such as 'log'")
    if len(kind) > MAX_EVENT_TYPE_LENGTH:
        raise ValueError(f"event['type'] is longer than {MAX_EVENT_TYPE_LENGTH} characters")
    severity = event.get("severity")
    if severity is not None and severity not in SEVERITIES:
        raise ValueError(f"event['severity'] must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    ident = event.get("id")
    if ident is not None and (not isinstance(ident, str) or not 0 < len(ident) <= MAX_EVENT_ID_LENGTH):
        raise ValueError(f"event['id'] must be a string of 1 to {MAX_EVENT_ID_LENGTH} characters")
    source = event.get("source")
    if source is not None and (not isinstance(source, str) or len(source) > MAX_SOURCE_LENGTH):
        raise ValueError(f"event['source'] must be a string of at most {MAX_SOURCE_LENGTH} characters")
    return dict(event)


def encode_event(event: Mapping[str, Any]) -> str:
    """The event as compact JSON; raises ``ValueError`` for data JSON cannot carry (NaN, infinity,
    objects that are not JSON)."""
    try:
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"event of type {event.get('type')!r} is not JSON: {error}") from None
