"""herald.Publisher against a real hub: order, idempotency, refusals, the bounded queue, threads, 429."""

from __future__ import annotations

import threading
import time
import unittest
from typing import List

from support import HubTestCase, closed_port

import herald

FAST_RETRY = herald.Backoff(0.05, 0.5)


class PublisherTest(HubTestCase):
    hub_args = ["--max-events-per-second", "0", "--max-ip-events-per-second", "0"]

    def setUp(self) -> None:
        self.client = herald.Client(self.hub.url)
        self.addCleanup(self.client.close)
        self.dropped: List[herald.Dropped] = []

    def publisher(self, **options: object) -> herald.Publisher:
        publisher = herald.Publisher(self.hub.url, retry=FAST_RETRY, on_drop=self.dropped.append, **options)  # type: ignore[arg-type]
        self.addCleanup(publisher.close, 1)
        return publisher

    def data(self, channel: str) -> List[object]:
        return [e["event"]["data"] for e in self.client.read_all(channel)]

    def test_keeps_each_channels_order_and_gives_every_event_an_idempotency_id(self) -> None:
        publisher = self.publisher(max_batch=7)
        for i in range(50):
            publisher.publish(f"order.{i % 3}", {"type": "n", "data": i})
        self.assertTrue(publisher.flush())
        for c in range(3):
            self.assertEqual(self.data(f"order.{c}"), list(range(c, 50, 3)))
        ids = [e["event"]["id"] for e in self.client.read_all("order.0")]
        self.assertEqual(len(set(ids)), len(ids))
        self.assertTrue(all(i.startswith(ids[0].rsplit("-", 1)[0] + "-") for i in ids), "one prefix per publisher")
        self.assertEqual(publisher.queued, 0)
        self.assertEqual(publisher.acknowledged, 50)

    def test_an_event_with_an_id_already_stored_is_not_stored_again(self) -> None:
        publisher = self.publisher()
        publisher.publish("idem", {"type": "n", "id": "job-1", "data": 1})
        publisher.publish("idem", {"type": "n", "id": "job-1", "data": 1})
        self.assertTrue(publisher.flush())
        self.assertEqual(len(self.client.read_all("idem")), 1)

    def test_the_callers_dict_can_change_after_publish(self) -> None:
        publisher = self.publisher()
        event = {"type": "n", "data": {"v": 1}}
        publisher.publish("copy", event)
        event["data"]["v"] = 2  # type: ignore[index]
        self.assertTrue(publisher.flush())
        self.assertEqual(self.data("copy"), [{"v": 1}])

    def test_a_refused_event_is_dropped_alone_with_the_hubs_code(self) -> None:
        publisher = self.publisher()
        for i in range(5):
            publisher.publish("refused", {"type": "n", "data": "x" * 70_000 if i == 2 else i})
        self.assertTrue(publisher.flush())
        self.assertEqual(self.data("refused"), [0, 1, 3, 4])
        self.assertEqual(len(self.dropped), 1)
        drop = self.dropped[0]
        self.assertEqual((drop.channel, len(drop.events)), ("refused", 1))
        assert drop.error is not None
        self.assertEqual((drop.error.code, drop.error.status, drop.error.retryable), ("too_large", 413, False))

    def test_publishing_to_the_hubs_own_summary_channel_is_refused_as_forbidden(self) -> None:
        publisher = self.publisher()
        publisher.publish("runs", {"type": "run.summary"})
        self.assertTrue(publisher.flush())
        assert self.dropped and self.dropped[0].error is not None
        self.assertEqual(self.dropped[0].error.code, "forbidden")

    def test_misuse_fails_at_the_call_with_a_sentence(self) -> None:
        publisher = self.publisher()
        with self.assertRaisesRegex(ValueError, "empty segment"):
            publisher.publish("runs..x", {"type": "log"})
        with self.assertRaisesRegex(ValueError, "only allowed when subscribing"):
            publisher.publish("runs.>", {"type": "log"})
        with self.assertRaisesRegex(ValueError, "unknown event field 'severty'"):
            publisher.publish("ok", {"type": "log", "severty": "info"})
        with self.assertRaisesRegex(ValueError, "severity"):
            publisher.publish("ok", {"type": "log", "severity": "fatal"})
        with self.assertRaisesRegex(ValueError, "not JSON"):
            publisher.publish("ok", {"type": "metric", "data": {"value": float("nan")}})
        with self.assertRaises(TypeError):
            publisher.publish("ok", "log")  # type: ignore[arg-type]
        with self.assertRaisesRegex(ValueError, "max_batch"):
            herald.Publisher(self.hub.url, max_batch=5000)
        with self.assertRaisesRegex(ValueError, "when_full"):
            herald.Publisher(self.hub.url, when_full="drop_newest")
        self.assertEqual(publisher.queued, 0)

    def test_close_flushes_is_safe_twice_and_then_publish_raises(self) -> None:
        publisher = herald.Publisher(self.hub.url)
        publisher.publish("closing", {"type": "n"})
        self.assertTrue(publisher.close())
        self.assertTrue(publisher.close())
        self.assertEqual(len(self.client.read_all("closing")), 1)
        with self.assertRaises(herald.PublisherClosed):
            publisher.publish("closing", {"type": "n"})
        with herald.Publisher(self.hub.url) as scoped:
            scoped.publish("closing", {"type": "n"})
        self.assertEqual(len(self.client.read_all("closing")), 2, "leaving the with block flushed")

    def test_threads_publish_at_once_and_every_event_is_stored_once_in_each_threads_order(self) -> None:
        publisher = self.publisher()

        def work(thread: int) -> None:
            for i in range(400):
                publisher.publish("threads", {"type": "n", "data": [thread, i]})

        workers = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        self.assertTrue(publisher.flush(timeout=20))
        data = self.data("threads")
        self.assertEqual(len(data), 1600)
        for t in range(4):
            self.assertEqual([i for (thread, i) in data if thread == t], list(range(400)))  # type: ignore[misc]

    def test_block_waits_for_room_and_loses_nothing(self) -> None:
        publisher = self.publisher(max_queued=5, when_full="block", max_batch=2)
        for i in range(60):
            publisher.publish("blocking", {"type": "n", "data": i})
            self.assertLessEqual(publisher.queued, 5)
        self.assertTrue(publisher.flush())
        self.assertEqual(self.data("blocking"), list(range(60)))
        self.assertEqual(self.dropped, [])


class QueueWhileTheHubIsAwayTest(unittest.TestCase):
    """No hub at all: events wait in the bounded queue, and its policy decides what happens past it."""

    def setUp(self) -> None:
        self.url = f"http://127.0.0.1:{closed_port()}"
        self.dropped: List[herald.Dropped] = []

    def publisher(self, **options: object) -> herald.Publisher:
        # A long flush interval keeps every event queued (none in flight), so the policy is what is tested.
        publisher = herald.Publisher(self.url, retry=FAST_RETRY, flush_interval=30, on_drop=self.dropped.append, **options)  # type: ignore[arg-type]
        self.addCleanup(publisher.close, 0.1)
        return publisher

    def test_drop_oldest_drops_the_oldest_events_and_reports_them(self) -> None:
        publisher = self.publisher(max_queued=3)
        for i in range(5):
            publisher.publish(f"away.{i % 2}", {"type": "n", "data": i})
        self.assertEqual(publisher.queued, 3)
        self.assertEqual([d.events[0]["data"] for d in self.dropped], [0, 1])
        self.assertTrue(all(isinstance(d.error, herald.QueueFull) for d in self.dropped))

    def test_raise_refuses_the_new_event(self) -> None:
        publisher = self.publisher(max_queued=2, when_full="raise")
        publisher.publish("away", {"type": "n"})
        publisher.publish("away", {"type": "n"})
        with self.assertRaises(herald.QueueFull):
            publisher.publish("away", {"type": "n"})
        self.assertEqual(publisher.queued, 2)
        self.assertEqual(self.dropped, [])

    def test_block_gives_up_after_block_timeout(self) -> None:
        publisher = self.publisher(max_queued=1, when_full="block", block_timeout=0.2)
        publisher.publish("away", {"type": "n"})
        with self.assertRaisesRegex(herald.QueueFull, "no room within 0.2 s"):
            publisher.publish("away", {"type": "n"})

    def test_flush_and_close_with_a_timeout_say_false_and_hand_back_what_was_left(self) -> None:
        publisher = herald.Publisher(self.url, retry=FAST_RETRY, on_drop=self.dropped.append)
        publisher.publish("away", {"type": "n", "data": 1})
        self.assertFalse(publisher.flush(timeout=0.2))
        self.assertFalse(publisher.close(timeout=0.2))
        self.assertEqual(len(self.dropped), 1)
        self.assertIn("closed before the hub took them", self.dropped[0].reason)
        self.assertIsInstance(self.dropped[0].error, herald.HubUnreachable)


class RateLimitTest(HubTestCase):
    """The hub's default quotas (1 000 events per second per connection): 429 rate_limited with
    Retry-After, raised by the Client and waited out by the Publisher."""

    def test_the_client_raises_rate_limited_with_retry_after_and_the_publisher_waits_it_out(self) -> None:
        client = herald.Client(self.hub.url)
        self.addCleanup(client.close)
        batch = [{"type": "n", "data": i} for i in range(1000)]
        client.publish("limited", batch)
        with self.assertRaises(herald.HeraldError) as caught:
            client.publish("limited", batch)
        error = caught.exception
        self.assertEqual((error.code, error.status, error.retryable), ("rate_limited", 429, True))
        self.assertIsNotNone(error.retry_after)
        self.assertGreaterEqual(error.retry_after or 0, 1)

        dropped: List[herald.Dropped] = []
        with herald.Publisher(self.hub.url, on_drop=dropped.append, max_batch=500) as publisher:
            for i in range(1000, 2500):
                publisher.publish("limited", {"type": "n", "data": i})
            self.assertTrue(publisher.flush(timeout=20))
        self.assertEqual(dropped, [])
        self.assertEqual([e["event"]["data"] for e in client.read_all("limited")], list(range(2500)))


if __name__ == "__main__":
    unittest.main()
