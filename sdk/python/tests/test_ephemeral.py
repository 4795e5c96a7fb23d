"""Ephemeral events from Python against a real hub: publish(ephemeral=True), and SSE subscriptions that
yield them apart from stored events (only when asked) without moving their position."""

from __future__ import annotations

import unittest

from support import HubTestCase, until
from test_subscribe import Reader

import herald


class EphemeralParsingTest(unittest.TestCase):
    def test_an_ephemeral_message_is_its_own_item_and_leaves_the_position_alone(self) -> None:
        from herald._stream import StreamState

        lines = [
            "event: subscribed", 'data: {"channel":"e.p","epoch":"e1","offset":0}', "",
            "id: 1@e1", 'data: {"channel":"e.p","offset":1,"epoch":"e1","time":1,"event":{"type":"n"}}', "",
            "event: ephemeral", 'data: {"channel":"e.p","time":2,"event":{"type":"cursor","data":{"x":1}}}', "",
        ]
        asked = StreamState("e.p", ephemeral=True)
        items = [item for line in lines for item in asked.feed(line)]
        self.assertEqual(items[1], herald.Ephemeral("e.p", 2, {"type": "cursor", "data": {"x": 1}}))
        self.assertEqual((items[1].type, items[1].data), ("cursor", {"x": 1}))
        self.assertEqual(asked.position, ("e1", 1), "an ephemeral event has no offset to resume from")
        unasked = StreamState("e.p")
        self.assertEqual([type(i) for line in lines for i in unasked.feed(line)], [herald.Event], "skipped unless asked for")


class EphemeralTest(HubTestCase):
    def setUp(self) -> None:
        self.client = herald.Client(self.hub.url)
        self.addCleanup(self.client.close)

    def subscribe(self, channel: str, **options: object) -> Reader:
        subscription = herald.subscribe(channel, url=self.hub.url, **options)
        self.addCleanup(subscription.close)
        return Reader(subscription)

    def test_published_with_ephemeral_true_they_reach_live_subscribers_but_never_history_or_a_resume(self) -> None:
        asked = self.subscribe("py.eph", ephemeral=True)
        plain = self.subscribe("py.eph")
        pattern = self.subscribe("py.*", ephemeral=True)
        until(lambda: all(r.subscription.subscribed for r in (asked, plain, pattern)), "three subscribed replies")
        first = self.client.publish("py.eph", {"type": "note", "data": 1})
        answer = self.client.publish("py.eph", [{"type": "typing", "data": "a"}, {"type": "typing", "data": "b"}], ephemeral=True)
        self.assertEqual(answer, herald.EphemeralPublished("py.eph", 2))
        second = self.client.publish("py.eph", {"type": "note", "data": 2})
        self.assertEqual(first.offsets + second.offsets, [1, 2], "no offset taken by the ephemeral events")

        for reader in (asked, pattern):
            items = reader.wait_for(4)
            self.assertEqual([type(i).__name__ for i in items], ["Event", "Ephemeral", "Ephemeral", "Event"])
            self.assertEqual([i.data for i in items], [1, "a", "b", 2])
        self.assertEqual(asked.subscription.position, (first.epoch, 2))
        self.assertEqual([(i.offset, i.data) for i in plain.wait_for(2) if isinstance(i, herald.Event)], [(1, 1), (2, 2)])
        self.assertEqual(len(plain.items), 2, "a subscription that did not ask gets none")

        self.assertEqual([e["offset"] for e in self.client.read_all("py.eph")], [1, 2])
        resumed = self.subscribe("py.eph", since=0, ephemeral=True)
        items = resumed.wait_for(2)
        until(lambda: resumed.subscription.subscribed, "the resume's reply")
        self.assertEqual([(type(i).__name__, i.data) for i in items], [("Event", 1), ("Event", 2)], "a resume replays stored events only")

    def test_they_are_refused_like_stored_events(self) -> None:
        with self.assertRaises(herald.HeraldError) as refused:
            self.client.publish("py.big", {"type": "big", "data": "x" * 70_000}, ephemeral=True)
        self.assertEqual(refused.exception.code, "too_large")


if __name__ == "__main__":
    unittest.main()
