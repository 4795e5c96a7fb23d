"""Client.request and Client.serve against a real hub: a Python responder (long-poll thread) and a
Python requester (POST) round trip, a handler's exception as responder_error, no_responder, and
stop() ending the thread."""

from __future__ import annotations

import threading
import time
from typing import Any, List

from support import HubTestCase, until

import herald


class RpcTest(HubTestCase):
    def setUp(self) -> None:
        self.client = herald.Client(self.hub.url)
        self.addCleanup(self.client.close)

    def serve(self, channel: str, handler: Any, **options: Any) -> herald.Serving:
        serving = self.client.serve(channel, handler, **options)
        self.addCleanup(serving.stop)
        return serving

    def wait_for_responder(self, channel: str) -> None:
        """A responder is registered once its first poll reaches the hub."""

        def answered() -> bool:
            try:
                self.client.request(channel, "probe", timeout=2.0)
                return True
            except herald.HeraldError as error:
                return error.code != "no_responder"

        until(answered, f"a responder for {channel}")

    def test_round_trip_through_a_python_responder(self) -> None:
        seen: List[herald.RequestInfo] = []

        def handler(data: Any, info: herald.RequestInfo) -> Any:
            if info.type == "probe":
                return None
            seen.append(info)
            return {"sum": sum(data)}

        self.serve("py.math.*", handler, responder="math-1")
        self.wait_for_responder("py.math.add")
        # Whole milliseconds, as the hub's clock reads them: a request that reaches it within the same
        # millisecond gets a deadline of exactly before + 3000 (a fractional `before` failed that once).
        before = int(time.time() * 1000)
        self.assertEqual(self.client.request("py.math.add", "sum", [1, 2, 3], timeout=3.0), {"sum": 6})
        self.assertEqual(len(seen), 1)
        self.assertEqual((seen[0].type, seen[0].channel), ("sum", "py.math.add"))
        self.assertTrue(before + 3000 <= seen[0].deadline <= time.time() * 1000 + 3000, seen[0].deadline)
        self.assertEqual(dict(seen[0].sender), {}, "an HTTP requester on an open hub is anonymous")
        # Several at once: a slow handler does not hold the others back.
        results: List[Any] = []
        threads = [threading.Thread(target=lambda n=n: results.append(self.client.request("py.math.add", "sum", [n, n]))) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)
        self.assertEqual(sorted(r["sum"] for r in results), [0, 2, 4, 6])

    def test_a_handler_exception_is_a_responder_error_with_its_message(self) -> None:
        def handler(data: Any, info: herald.RequestInfo) -> Any:
            if info.type == "probe":
                return "ok"
            raise ValueError("the door is locked")

        self.serve("py.fail", handler)
        self.wait_for_responder("py.fail")
        with self.assertRaises(herald.HeraldError) as caught:
            self.client.request("py.fail", "open")
        self.assertEqual((caught.exception.code, caught.exception.status), ("responder_error", 502))
        self.assertIn("the door is locked", caught.exception.message)

    def test_no_responder(self) -> None:
        with self.assertRaises(herald.HeraldError) as caught:
            self.client.request("py.nobody", "anyone?")
        self.assertEqual((caught.exception.code, caught.exception.status), ("no_responder", 503))

    def test_a_handler_too_slow_for_the_deadline_is_a_timeout(self) -> None:
        def handler(data: Any, info: herald.RequestInfo) -> Any:
            if info.type != "probe":
                time.sleep(1.0)
            return "late"

        self.serve("py.slow", handler)
        self.wait_for_responder("py.slow")
        with self.assertRaises(herald.HeraldError) as caught:
            self.client.request("py.slow", "wait", timeout=0.2)
        self.assertEqual(caught.exception.code, "timeout")

    def test_stop_ends_the_thread_and_then_nothing_answers(self) -> None:
        with self.client.serve("py.stop", lambda data, info: "yes") as serving:
            self.wait_for_responder("py.stop")
            self.assertTrue(serving.running)
            self.assertEqual(self.client.request("py.stop", "q"), "yes")
        self.assertFalse(serving.running, "stop() wakes the held poll and joins the thread")
        serving.stop()  # twice is harmless
        # The hub forgets an HTTP responder 5 s after its last poll; then requests get no_responder.
        with self.assertRaises(herald.HeraldError) as caught:
            self.client.request("py.stop", "q", timeout=15.0)
        self.assertEqual(caught.exception.code, "no_responder")

    def test_bad_arguments_are_refused_before_anything_is_sent(self) -> None:
        with self.assertRaises(ValueError):
            self.client.request("py.x", "q", timeout=61)
        with self.assertRaises(ValueError):
            self.client.request("py.*", "q")
        with self.assertRaises(ValueError):
            self.client.serve("py..x", lambda data, info: None)
        with self.assertRaises(ValueError):
            self.client.serve("py.x", lambda data, info: None, responder="not a name")


if __name__ == "__main__":
    import unittest

    unittest.main()
