"""subscribe() over SSE against a real hub: history then live, honest resets, patterns, closing."""

from __future__ import annotations

import asyncio
import threading
import unittest
from typing import List, Union

from support import HubTestCase, until

import herald

Item = Union[herald.Event, herald.Reset]


class Reader:
    """Iterates a subscription on a thread, collecting what it yields."""

    def __init__(self, subscription: herald.Subscription) -> None:
        self.subscription = subscription
        self.items: List[Item] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for item in self.subscription:
                self.items.append(item)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            self.error = error

    def wait_for(self, count: int) -> List[Item]:
        until(lambda: len(self.items) >= count or self.error is not None, f"{count} items")
        if self.error is not None:
            raise self.error
        return self.items


class HeartbeatTest(unittest.TestCase):
    def test_heartbeat_events_are_signs_of_life_not_items(self) -> None:
        from herald._stream import StreamState

        state = StreamState("s.beat")
        lines = [
            "retry: 1000", "",
            "event: heartbeat", 'data: {"heartbeatMs":25000}', "",
            "event: subscribed", 'data: {"channel":"s.beat","epoch":"e1","offset":0}', "",
            "event: heartbeat", 'data: {"heartbeatMs":25000}', "",
            "id: 1@e1", 'data: {"channel":"s.beat","offset":1,"epoch":"e1","time":1,"event":{"type":"n"}}', "",
        ]
        items = [item for line in lines for item in state.feed(line)]
        self.assertEqual([(i.offset, i.type) for i in items if isinstance(i, herald.Event)], [(1, "n")])
        self.assertEqual(len(items), 1)


class SubscribeTest(HubTestCase):
    def setUp(self) -> None:
        self.client = herald.Client(self.hub.url)
        self.addCleanup(self.client.close)

    def subscribe(self, channel: str, **options: object) -> Reader:
        subscription = herald.subscribe(channel, url=self.hub.url, **options)
        self.addCleanup(subscription.close)
        return Reader(subscription)

    def publish(self, channel: str, *values: object) -> None:
        self.client.publish(channel, [{"type": "n", "data": v} for v in values])

    def test_since_0_gives_the_history_then_live_events(self) -> None:
        self.publish("sub.history", 1, 2, 3)
        reader = self.subscribe("sub.history", since=0)
        reader.wait_for(3)
        self.publish("sub.history", 4, 5)
        items = reader.wait_for(5)
        self.assertTrue(all(isinstance(i, herald.Event) for i in items))
        events = [i for i in items if isinstance(i, herald.Event)]
        self.assertEqual([(e.offset, e.data, e.type) for e in events], [(n, n, "n") for n in range(1, 6)])
        self.assertEqual(len({e.epoch for e in events}), 1)
        self.assertEqual(reader.subscription.position, (events[0].epoch, 5))
        self.assertTrue(reader.subscription.recovered)

    def test_without_since_it_is_live_from_now(self) -> None:
        self.publish("sub.live", "old")
        reader = self.subscribe("sub.live")
        until(lambda: reader.subscription.subscribed, "the subscribed reply")
        self.publish("sub.live", "new")
        (event,) = reader.wait_for(1)
        assert isinstance(event, herald.Event)
        self.assertEqual((event.offset, event.data), (2, "new"))
        self.assertIsNone(reader.subscription.recovered, "a live start has nothing to recover")

    def test_a_channel_that_started_over_is_reported_as_a_reset_not_replayed_from_the_wrong_history(self) -> None:
        self.publish("sub.epoch", 1, 2, 3)
        old_epoch = self.client.history("sub.epoch")["epoch"]
        self.client.delete_channel("sub.epoch")
        self.publish("sub.epoch", "new-1", "new-2")
        reader = self.subscribe("sub.epoch", since=3, epoch=old_epoch)
        (reset,) = reader.wait_for(1)
        assert isinstance(reset, herald.Reset)
        self.assertEqual(reset.reason, "epoch-changed")
        self.assertNotEqual(reset.epoch, old_epoch)
        self.assertEqual(reset.offset, 2)
        self.assertIs(reader.subscription.recovered, False)
        self.publish("sub.epoch", "new-3")
        items = reader.wait_for(2)
        assert isinstance(items[1], herald.Event)
        self.assertEqual((items[1].offset, items[1].data), (3, "new-3"))

    def test_a_gap_the_hub_cannot_fill_is_a_reset_with_history_lost(self) -> None:
        self.publish("sub.gap", 1, 2)
        reader = self.subscribe("sub.gap", since=50)
        (reset,) = reader.wait_for(1)
        assert isinstance(reset, herald.Reset)
        self.assertEqual((reset.reason, reset.offset), ("history-lost", 2))
        self.assertIs(reader.subscription.recovered, False)

    def test_a_channel_deleted_while_watched_says_reset_before_its_new_events(self) -> None:
        self.publish("sub.deleted", "a")
        reader = self.subscribe("sub.deleted", since=0)
        reader.wait_for(1)
        self.client.delete_channel("sub.deleted")
        self.publish("sub.deleted", "b")
        items = reader.wait_for(3)
        self.assertIsInstance(items[1], herald.Reset)
        self.assertEqual(items[1].reason, "epoch-changed")  # type: ignore[union-attr]
        assert isinstance(items[2], herald.Event)
        self.assertEqual((items[2].offset, items[2].data), (1, "b"))

    def test_a_pattern_is_live_across_channels(self) -> None:
        reader = self.subscribe("feed.>")
        until(lambda: reader.subscription.subscribed, "the subscribed reply")
        self.publish("feed.a", 1)
        self.publish("feed.b.c", 2)
        self.publish("other", 3)
        self.publish("feed.a", 4)
        items = reader.wait_for(3)
        self.assertEqual([(i.channel, i.data) for i in items if isinstance(i, herald.Event)], [("feed.a", 1), ("feed.b.c", 2), ("feed.a", 4)])

    def test_close_from_another_thread_ends_the_iteration(self) -> None:
        reader = self.subscribe("sub.closed")
        until(lambda: reader.subscription.subscribed, "the subscribed reply")
        reader.subscription.close()
        reader.thread.join(5)
        self.assertFalse(reader.thread.is_alive())
        self.assertIsNone(reader.error)

    def test_misuse_fails_at_once(self) -> None:
        with self.assertRaisesRegex(ValueError, "live only"):
            herald.subscribe("feed.>", url=self.hub.url, since=0)
        with self.assertRaisesRegex(ValueError, "empty segment"):
            herald.subscribe("feed..x", url=self.hub.url)
        with self.assertRaisesRegex(ValueError, "epoch only means something with since"):
            herald.subscribe("feed", url=self.hub.url, epoch="abc")

    def test_the_asyncio_subscription_gives_history_live_and_resets(self) -> None:
        self.publish("sub.async", 1, 2)

        async def main() -> List[Item]:
            got: List[Item] = []
            async with herald.subscribe_async("sub.async", url=self.hub.url, since=0) as subscription:
                async for item in subscription:
                    got.append(item)
                    if len(got) == 2:
                        await asyncio.to_thread(self.publish, "sub.async", 3)
                    if len(got) == 3:
                        break
            async with herald.subscribe_async("sub.async", url=self.hub.url, since=99) as subscription:
                got.append(await subscription.__anext__())
            return got

        items = asyncio.run(asyncio.wait_for(main(), 15))
        self.assertEqual([i.offset for i in items[:3]], [1, 2, 3])  # type: ignore[union-attr]
        self.assertIsInstance(items[3], herald.Reset)
        self.assertEqual(items[3].reason, "history-lost")  # type: ignore[union-attr]


if __name__ == "__main__":
    unittest.main()
