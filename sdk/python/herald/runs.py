"""Runs as context managers: ``run.started``, steps, progress, logs, metrics and ``run.completed``
published with the conventions of docs/runs.md, so the hub keeps the run's snapshot."""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
import uuid
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from ._rules import check_channel

PublishFn = Callable[[str, Dict[str, Any]], None]

RUN_STATUSES = ("succeeded", "failed", "cancelled")
STEP_STATUSES = ("passed", "failed", "skipped")

# The steps open in this thread or task, innermost last, as (run channel, step id): a step opened
# inside another step of the same run gets it as its parent.
_open_steps: contextvars.ContextVar[Tuple[Tuple[str, str], ...]] = contextvars.ContextVar("herald_open_steps", default=())

_CANCELLED = (KeyboardInterrupt, asyncio.CancelledError, GeneratorExit)


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Run:
    """One run on channel ``runs.<run_id>``. Use it as a context manager (``with`` or ``async with``):
    entering publishes ``run.started``; leaving publishes ``run.completed`` — ``succeeded``, or
    ``failed`` when an exception escapes (its text becomes the run's ``lastError``; the exception is
    raised again), or ``cancelled`` for ``KeyboardInterrupt`` and task cancellation.

    Publishing goes through the publisher it came from (:meth:`herald.Publisher.run`,
    :meth:`herald.AsyncPublisher.run`), so none of these calls blocks or raises for the network.

    :param run_id: everything after ``runs.``; dots give teams namespaces (``team-a.build-42``).
        Default: a random id.
    :param title: shown in lists and searched.
    :param labels: string → string, for filtering (``GET /api/runs?label=team=web``).
    """

    def __init__(self, publish: PublishFn, run_id: Optional[str] = None, *, title: Optional[str] = None, labels: Optional[Mapping[str, str]] = None) -> None:
        self.id = run_id if run_id is not None else f"run-{uuid.uuid4().hex[:12]}"
        self.channel = check_channel(f"runs.{self.id}")
        if labels is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise ValueError("labels map strings to strings, e.g. {'team': 'web'}")
        self.title = title
        self.labels = dict(labels) if labels else None
        self._publish = publish
        self.started = False
        self.status: Optional[str] = None

    # --- the events -------------------------------------------------------------------------------

    def event(self, type: str, data: Any = None, *, severity: Optional[str] = None, **fields: Any) -> None:
        """Publishes any event into the run (other types pass through and count as activity)."""
        event: Dict[str, Any] = {"type": type, **fields}
        if severity is not None:
            event["severity"] = severity
        if data is not None:
            event["data"] = data
        self._publish(self.channel, event)

    def start(self) -> "Run":
        """Publishes ``run.started`` (``with`` does it for you); a second call does nothing."""
        if not self.started:
            self.started = True
            data: Dict[str, Any] = {}
            if self.title is not None:
                data["title"] = self.title
            if self.labels:
                data["labels"] = self.labels
            self.event("run.started", data)
        return self

    def progress(self, percent: Optional[float] = None, message: Optional[str] = None) -> None:
        """``run.progress``: percent 0–100 and/or a message such as the current phase."""
        if percent is not None and not (isinstance(percent, (int, float)) and 0 <= percent <= 100):
            raise ValueError(f"percent is a number from 0 to 100, not {percent!r}")
        data: Dict[str, Any] = {}
        if percent is not None:
            data["percent"] = percent
        if message is not None:
            data["message"] = message
        self.event("run.progress", data)

    def log(self, message: str, severity: str = "info", **data: Any) -> None:
        """A ``log`` line; severity ``error`` also sets the run's ``lastError``. Extra keywords go in ``data``."""
        self.event("log", {"message": str(message), **data}, severity=severity)

    def debug(self, message: str, **data: Any) -> None:
        self.log(message, "debug", **data)

    def info(self, message: str, **data: Any) -> None:
        self.log(message, "info", **data)

    def warning(self, message: str, **data: Any) -> None:
        self.log(message, "warning", **data)

    def error(self, message: str, **data: Any) -> None:
        self.log(message, "error", **data)

    def metric(self, name: str, value: float, unit: Optional[str] = None) -> None:
        """A ``metric`` point: the latest value per name, and the point in the run's series."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"metric {name!r}: value must be a finite number, not {value!r}")
        data: Dict[str, Any] = {"name": name, "value": value}
        if unit is not None:
            data["unit"] = unit
        self.event("metric", data)

    def heartbeat(self) -> None:
        """``run.heartbeat``: "still alive" during a long quiet phase (a silent run becomes ``stalled``)."""
        self.event("run.heartbeat")

    def step(self, step_id: str, name: Optional[str] = None, *, parent: Optional[str] = None) -> "Step":
        """A step, as a context manager: ``step.started`` on entry, ``step.completed`` on exit (``passed``,
        or ``failed`` with the exception's message). Steps opened inside another step of this run get it
        as their ``parent`` unless one is given."""
        return Step(self, step_id, name, parent)

    def complete(self, status: str = "succeeded", summary: Any = None, *, message: Optional[str] = None) -> None:
        """``run.completed``; leaving the ``with`` block calls it unless you already did. A failed run's
        ``message`` becomes the snapshot's ``lastError`` (the hub reads ``data.message`` of any event
        of severity ``error``)."""
        if status not in RUN_STATUSES:
            raise ValueError(f"a run completes as one of {', '.join(RUN_STATUSES)}, not {status!r}")
        self.status = status
        data: Dict[str, Any] = {"status": status}
        if summary is not None:
            data["summary"] = summary
        if message is not None:
            data["message"] = message
        self.event("run.completed", data, severity="success" if status == "succeeded" else "error" if status == "failed" else "warning")

    # --- context manager --------------------------------------------------------------------------

    def __enter__(self) -> "Run":
        return self.start()

    def __exit__(self, kind: Optional[type], error: Optional[BaseException], tb: Any) -> None:
        if self.status is not None:
            return
        if error is None:
            self.complete("succeeded")
        elif isinstance(error, _CANCELLED):
            self.complete("cancelled", {"reason": _describe(error)})
        else:
            self.complete("failed", {"error": _describe(error)}, message=_describe(error))

    async def __aenter__(self) -> "Run":
        return self.__enter__()

    async def __aexit__(self, kind: Optional[type], error: Optional[BaseException], tb: Any) -> None:
        self.__exit__(kind, error, tb)


class Step:
    """One step of a run (see :meth:`Run.step`). Call :meth:`skip` or :meth:`fail` inside the block to
    end it another way than ``passed``."""

    def __init__(self, run: Run, step_id: str, name: Optional[str], parent: Optional[str]) -> None:
        if not isinstance(step_id, str) or not step_id:
            raise ValueError("a step id is a non-empty string, e.g. 'login'")
        self.run = run
        self.id = step_id
        self.name = name
        self.parent = parent
        self.status: Optional[str] = None
        self.message: Optional[str] = None
        self._started: Optional[float] = None
        self._token: Optional[contextvars.Token] = None

    def start(self) -> "Step":
        if self.parent is None:
            for channel, open_id in reversed(_open_steps.get()):
                if channel == self.run.channel:
                    self.parent = open_id
                    break
        data: Dict[str, Any] = {"step": self.id}
        if self.name is not None:
            data["name"] = self.name
        if self.parent is not None:
            data["parent"] = self.parent
        self.run.event("step.started", data)
        self._started = time.monotonic()
        return self

    def skip(self, message: Optional[str] = None) -> None:
        """Ends the step as ``skipped`` when the block ends."""
        self.status, self.message = "skipped", message

    def fail(self, message: Optional[str] = None) -> None:
        """Ends the step as ``failed`` when the block ends, without raising."""
        self.status, self.message = "failed", message

    def complete(self, status: str = "passed", message: Optional[str] = None) -> None:
        """Publishes ``step.completed`` now (the ``with`` block does it for you)."""
        if status not in STEP_STATUSES:
            raise ValueError(f"a step completes as one of {', '.join(STEP_STATUSES)}, not {status!r}")
        data: Dict[str, Any] = {"step": self.id, "status": status}
        if self._started is not None:
            data["durationMs"] = round((time.monotonic() - self._started) * 1000)
        if message is not None:
            data["message"] = message
        self.status = status
        self._started = None
        self.run.event("step.completed", data, severity="success" if status == "passed" else "error" if status == "failed" else "info")

    def __enter__(self) -> "Step":
        self.start()
        self._token = _open_steps.set(_open_steps.get() + ((self.run.channel, self.id),))
        return self

    def __exit__(self, kind: Optional[type], error: Optional[BaseException], tb: Any) -> None:
        if self._token is not None:
            _open_steps.reset(self._token)
            self._token = None
        if self._started is None:
            return  # completed inside the block
        if error is not None:
            self.complete("skipped" if isinstance(error, _CANCELLED) else "failed", _describe(error))
        else:
            self.complete(self.status or "passed", self.message)

    async def __aenter__(self) -> "Step":
        return self.__enter__()

    async def __aexit__(self, kind: Optional[type], error: Optional[BaseException], tb: Any) -> None:
        self.__exit__(kind, error, tb)
