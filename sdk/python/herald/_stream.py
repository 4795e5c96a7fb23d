"""What a subscription remembers and decides, apart from any I/O: the SSE wire format, the position to
resume from, duplicates to drop, and when to tell the reader that a gap could not be filled.

Shared by :class:`herald.Subscription` (threads) and :class:`herald.AsyncSubscription` (asyncio); it
follows ``packages/client/src/sse-transport.ts`` and ``subscription.ts``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union
from urllib.parse import urlencode

from ._http import channel_path
from ._rules import check_channel, is_pattern


@dataclass(frozen=True)
class Event:
    """One delivered event: where it is stored (``channel``, ``offset`` within ``epoch``), when the hub
    received it (``time``, ms) and the event itself (``{"type","severity","data",…}``)."""

    channel: str
    offset: int
    epoch: str
    time: int
    event: Dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.event.get("type"))

    @property
    def data(self) -> Any:
        return self.event.get("data")

    @property
    def severity(self) -> str:
        return str(self.event.get("severity", "info"))


@dataclass(frozen=True)
class Reset:
    """The hub could not fill a gap (``recovered:false``): events between the last one you saw and
    ``offset`` are not coming. Reload your state (e.g. :meth:`herald.Client.history` or
    :meth:`herald.Client.run_snapshot`), then carry on: the events after ``offset`` follow.

    ``reason`` is ``"epoch-changed"`` (the channel was deleted and started over) or ``"history-lost"``
    (retention dropped the gap, it was larger than the hub's ``--max-recovery-events``, or a pattern
    subscription reconnected: patterns are live only over SSE)."""

    channel: str
    epoch: Optional[str]
    offset: Optional[int]
    reason: str


@dataclass(frozen=True)
class Ephemeral:
    """An event published with ``ephemeral: true``: fanned out live and never stored, so it has no
    offset and never moves the subscription's position. Yielded only by subscriptions made with
    ``ephemeral=True``; never in history or a resume."""

    channel: str
    time: int
    event: Dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.event.get("type"))

    @property
    def data(self) -> Any:
        return self.event.get("data")


Item = Union[Event, Reset, Ephemeral]


@dataclass
class SseMessage:
    event: str = "message"
    data: str = ""
    id: Optional[str] = None


class SseParser:
    """The text/event-stream format, one line at a time (without its line ending)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: List[str] = []
        self._id: Optional[str] = None

    def feed(self, line: str) -> Optional[SseMessage]:
        if line == "":
            if not self._data:
                self._event = ""
                return None
            message = SseMessage(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data, self._id = "", [], None
            return message
        if line.startswith(":"):
            return None  # a comment (hubs before heartbeat events sent ": keep-alive")
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None  # "retry" and unknown fields: this client keeps its own backoff


@dataclass
class StreamState:
    """One subscription's position and its rules for each message."""

    channel: str
    since: Optional[int] = None
    epoch: Optional[str] = None
    #: Last ``{offset, epoch}`` delivered per channel (one for an exact channel, many for a pattern).
    positions: Dict[str, Tuple[str, int]] = field(default_factory=dict)
    pattern: bool = False
    #: The current stream's ``subscribed`` reply (``None`` until it came), with ``recovered`` as this
    #: client judged it.
    subscribed: Optional[Dict[str, Any]] = None
    #: ``recovered`` of the last ``subscribed`` reply (kept across a disconnect).
    recovered: Optional[bool] = None
    connections: int = 0
    #: Whether ``event: ephemeral`` messages are yielded (as :class:`Ephemeral`) or skipped.
    ephemeral: bool = False
    _parser: SseParser = field(default_factory=SseParser)

    def __post_init__(self) -> None:
        check_channel(self.channel, allow_pattern=True)
        self.pattern = is_pattern(self.channel)
        if self.pattern and (self.since is not None or self.epoch is not None):
            raise ValueError("since/epoch resume exact channels only: a pattern stream over SSE is live only")
        if self.since is not None and (not isinstance(self.since, int) or self.since < 0):
            raise ValueError(f"since is an offset (a whole number >= 0), not {self.since!r}")
        if self.epoch is not None and self.since is None:
            raise ValueError("epoch only means something with since (the offset in that epoch)")
        if self.since is not None and self.epoch is not None:
            self.positions[self.channel] = (self.epoch, self.since)

    @property
    def position(self) -> Optional[Tuple[str, int]]:
        """``(epoch, offset)`` of the last event delivered on an exact channel."""
        return self.positions.get(self.channel)

    def request(self) -> Tuple[str, Dict[str, str]]:
        """The path and headers of the next connection: the first asks ``?since=``, later ones resume
        with ``Last-Event-ID`` (``<offset>@<epoch>``, as the hub's ids carry it: a history reset meanwhile
        is answered ``recovered:false``)."""
        self.connections += 1
        self.subscribed = None
        self._parser = SseParser()
        headers = {"accept": "text/event-stream", "cache-control": "no-cache"}
        path = channel_path(self.channel, "stream")
        if self.pattern:
            return path, headers
        known = self.position
        if known is not None:
            headers["last-event-id"] = f"{known[1]}@{known[0]}"
        elif self.since is not None:
            path += "?" + urlencode({"since": self.since})
        return path, headers

    def disconnected(self) -> None:
        self.subscribed = None

    def feed(self, line: str) -> List[Item]:
        message = self._parser.feed(line)
        if message is None:
            return []
        if message.event == "subscribed":
            return self._on_subscribed(json.loads(message.data))
        if message.event == "message":
            return self._on_event(json.loads(message.data))
        if message.event == "ephemeral" and self.ephemeral:
            # No id: line came with it, so the position (Last-Event-ID of a reconnect) stays where it is.
            body = json.loads(message.data)
            return [Ephemeral(str(body["channel"]), int(body["time"]), body["event"])]
        return []  # "heartbeat" (bytes that keep the idle timeout off) and "reset" (follows a subscribed with recovered:false, already reported)

    def _on_subscribed(self, reply: Dict[str, Any]) -> List[Item]:
        epoch, offset = reply.get("epoch"), reply.get("offset")
        recovered = reply.get("recovered")
        reason = "history-lost"
        known = self.position
        if known is not None and epoch is not None and epoch != known[0]:
            # SSE resumes by offset only: an epoch that moved on voids the remembered offset.
            recovered, reason = False, "epoch-changed"
        if self.pattern and self.connections > 1:
            recovered = False  # whatever the pattern missed while away cannot be replayed over SSE
        self.subscribed = {**reply, "recovered": recovered}
        self.recovered = recovered
        if not self.pattern and isinstance(epoch, str) and isinstance(offset, int) and recovered is not True:
            # Live from here (nothing older is replayed): anything at or below offset is dropped.
            self.positions[self.channel] = (epoch, offset)
        if recovered is False:
            return [Reset(self.channel, epoch, offset, reason)]
        return []

    def _on_event(self, message: Dict[str, Any]) -> List[Item]:
        event = Event(message["channel"], int(message["offset"]), str(message["epoch"]), int(message["time"]), message["event"])
        known = self.positions.get(event.channel)
        items: List[Item] = []
        if known is not None and known[0] == event.epoch and event.offset <= known[1]:
            return items  # already delivered before a reconnect
        if known is not None and known[0] != event.epoch:
            items.append(Reset(event.channel, event.epoch, event.offset - 1, "epoch-changed"))
        self.positions[event.channel] = (event.epoch, event.offset)
        items.append(event)
        return items
