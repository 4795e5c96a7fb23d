"""The promises that matter most, against a real hub that is SIGKILLed and restarted on the same
port and data folder: every published event is stored once and in order, and a subscription resumes
with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import unittest
from typing import List

from support import Hub, until

import herald

# Rate limits off: this is about restarts; test_publisher.py covers 429.
UNLIMITED = ["--max-events-per-second", "0", "--max-ip-events-per-second", "0"]
FAST_RETRY = herald.Backoff(0.05, 0.5)


class RestartTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="herald-py-restart-")
        self.hub = Hub(self.tmp.name, UNLIMITED).start()
        self.addCleanup(self.tmp.cleanup)
        self.addCleanup(self.hub.kill)
        self.client = herald.Client(self.hub.url)
        self.addCleanup(self.client.close)

    def assert_stored_once_in_order(self, channel: str, count: int) -> None:
        events = self.client.read_all(channel)
        self.assertEqual([e["offset"] for e in events], list(range(1, count + 1)), "offsets 1..N with no gap")
        self.assertEqual([e["event"]["data"]["i"] for e in events], list(range(count)), "each event once, in publish order")

    def test_10000_events_with_the_hub_killed_midway_are_stored_once_in_order(self) -> None:
        dropped: List[herald.Dropped] = []
        publisher = herald.Publisher(self.hub.url, retry=FAST_RETRY, on_drop=dropped.append)
        self.addCleanup(publisher.close, 1)
        for i in range(5000):
            publisher.publish("jobs.restart", {"type": "n", "data": {"i": i}})
        # Kill it while batches are in flight: some are stored but never acknowledged, and are sent again.
        until(lambda: publisher.acknowledged >= 2000, "the first events to be acknowledged")
        self.hub.kill()
        for i in range(5000, 10000):  # published while the hub is down
            publisher.publish("jobs.restart", {"type": "n", "data": {"i": i}})
        time.sleep(0.3)
        self.hub.start()  # same port, same data folder
        self.assertTrue(publisher.close(timeout=30), f"{publisher.queued} events still queued")
        self.assertEqual(dropped, [])
        self.assert_stored_once_in_order("jobs.restart", 10000)

    def test_the_asyncio_publisher_survives_a_restart_too(self) -> None:
        async def main() -> bool:
            async with herald.AsyncPublisher(self.hub.url, retry=FAST_RETRY) as publisher:
                for i in range(1500):
                    publisher.publish("jobs.async", {"type": "n", "data": {"i": i}})
                while publisher.acknowledged < 500:
                    await asyncio.sleep(0.005)
                await asyncio.to_thread(self.hub.kill)
                for i in range(1500, 3000):
                    publisher.publish("jobs.async", {"type": "n", "data": {"i": i}})
                await asyncio.sleep(0.3)
                await asyncio.to_thread(self.hub.start)
                return await publisher.flush(timeout=30)

        self.assertTrue(asyncio.run(main()))
        self.assert_stored_once_in_order("jobs.async", 3000)

    def test_subscribe_resumes_across_a_restart_with_no_gap(self) -> None:
        received: List[herald.Event] = []
        resets: List[herald.Reset] = []
        subscription = herald.subscribe("jobs.watched", url=self.hub.url, since=0, retry=FAST_RETRY)
        self.addCleanup(subscription.close)

        def read() -> None:
            for item in subscription:
                (resets if isinstance(item, herald.Reset) else received).append(item)  # type: ignore[arg-type]
                if len(received) == 600:
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        publisher = herald.Publisher(self.hub.url, retry=FAST_RETRY)
        self.addCleanup(publisher.close, 1)
        for i in range(300):
            publisher.publish("jobs.watched", {"type": "n", "data": {"i": i}})
        until(lambda: len(received) >= 200, "the first events to arrive live")
        self.hub.kill()
        for i in range(300, 600):
            publisher.publish("jobs.watched", {"type": "n", "data": {"i": i}})
        time.sleep(0.3)
        self.hub.start()
        self.assertTrue(publisher.flush(timeout=30))
        reader.join(20)
        self.assertFalse(reader.is_alive(), f"only {len(received)} of 600 events arrived")
        self.assertEqual(resets, [], "the gap was filled: recovered:true, no reset")
        self.assertEqual([e.offset for e in received], list(range(1, 601)))
        self.assertEqual([e.data["i"] for e in received], list(range(600)))
        self.assertGreaterEqual(subscription.connections, 2, "the stream was opened again after the restart")
        self.assertTrue(subscription.recovered)

    def test_the_asyncio_subscription_resumes_across_a_restart(self) -> None:
        self.client.publish("jobs.awatched", [{"type": "n", "data": {"i": i}} for i in range(100)])

        async def main() -> List[herald.Event]:
            got: List[herald.Event] = []
            async with herald.subscribe_async("jobs.awatched", url=self.hub.url, since=0, retry=FAST_RETRY) as subscription:
                async for item in subscription:
                    self.assertIsInstance(item, herald.Event)
                    got.append(item)  # type: ignore[arg-type]
                    if len(got) == 50:
                        await asyncio.to_thread(self.hub.restart, 0.2)
                        await asyncio.to_thread(self.client.publish, "jobs.awatched", [{"type": "n", "data": {"i": i}} for i in range(100, 200)])
                    if len(got) == 200:
                        self.assertGreaterEqual(subscription.connections, 2)
                        return got
            return got

        got = asyncio.run(asyncio.wait_for(main(), 30))
        self.assertEqual([e.offset for e in got], list(range(1, 201)))
        self.assertEqual([e.data["i"] for e in got], list(range(200)))


if __name__ == "__main__":
    unittest.main()
