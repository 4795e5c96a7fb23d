"""Herald for Python: publish events to a Herald hub and watch channels live.

Standard library only. ::

    import herald

    with herald.Publisher("http://127.0.0.1:7070") as publisher:      # $HERALD_API_KEY is sent if set
        with publisher.run("build-42", title="Nightly build") as run:
            with run.step("compile"):
                run.log("compiling…")
            run.progress(50)

    for item in herald.subscribe("runs.build-42", since=0):
        print(item)

See sdk/python/README.md and docs/python.md.
"""

from ._backoff import Backoff
from ._batching import Dropped
from ._stream import Ephemeral, Event, Reset
from .attachments import Attachment
from .aio import AsyncPublisher, AsyncSubscription, subscribe_async
from .client import Client, EphemeralPublished, Published
from .errors import ERROR_STATUS, HeraldError, HubUnreachable, PublisherClosed, QueueFull
from .publisher import Publisher
from .rpc import RequestInfo, Serving
from .runs import Run, Step
from .subscribe import Subscription, subscribe

__version__ = "0.1.0"

__all__ = [
    "AsyncPublisher",
    "Attachment",
    "AsyncSubscription",
    "Backoff",
    "Client",
    "Dropped",
    "Ephemeral",
    "EphemeralPublished",
    "ERROR_STATUS",
    "Event",
    "HeraldError",
    "HubUnreachable",
    "Published",
    "Publisher",
    "PublisherClosed",
    "QueueFull",
    "RequestInfo",
    "Reset",
    "Run",
    "Serving",
    "Step",
    "Subscription",
    "subscribe",
    "subscribe_async",
]
