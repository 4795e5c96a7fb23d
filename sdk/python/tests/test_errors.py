"""Error codes and what the SDK does with each: the table matches docs/codes.md; answers that can pass
(503 storage_unavailable, 507, 500, 429 with Retry-After) are retried with the same ids; refusals raise.

A real hub cannot be made to answer storage_unavailable on demand (its disk would have to fill), so these
few tests use a stand-in HTTP server that answers what the hub documents for those cases."""

from __future__ import annotations

import json
import re
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List, Tuple

from support import ROOT, closed_port

import herald


class CodesTableTest(unittest.TestCase):
    def test_the_sdks_codes_are_the_ones_docs_codes_md_lists(self) -> None:
        text = (ROOT / "docs" / "codes.md").read_text()
        section = text.split("## Error codes", 1)[1].split("##", 1)[0]
        documented = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\| `(\w+)` \| (\d{3}) \|", section, re.M)}
        self.assertEqual(dict(herald.ERROR_STATUS), documented)


class StandInHub:
    """Answers each POST with the next scripted (status, headers, body); 201 once the script is done."""

    def __init__(self, script: List[Tuple[int, dict, dict]]) -> None:
        self.script = list(script)
        self.requests: List[Tuple[float, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.requests.append((time.monotonic(), body))
                status, headers, answer = outer.script.pop(0) if outer.script else (201, {}, {"channel": "c", "epoch": "e", "offsets": list(range(1, len(json.loads(body)) + 1))})
                data = json.dumps(answer).encode()
                self.send_response(status)
                for name, value in {"content-type": "application/json", "content-length": str(len(data)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def error(code: str, message: str = "it happened") -> dict:
    return {"error": {"code": code, "message": message}}


class RetryTest(unittest.TestCase):
    def stand_in(self, script: List[Tuple[int, dict, dict]]) -> StandInHub:
        hub = StandInHub(script)
        self.addCleanup(hub.close)
        return hub

    def test_answers_that_can_pass_are_retried_with_the_same_ids_until_stored(self) -> None:
        for status, code in ((503, "storage_unavailable"), (503, "shutting_down"), (507, "quota_exceeded"), (500, "internal"), (502, None)):
            with self.subTest(code=code or status):
                hub = self.stand_in([(status, {}, error(code) if code else {"proxy": "bad gateway"})] * 2)
                dropped: List[herald.Dropped] = []
                with herald.Publisher(hub.url, retry=herald.Backoff(0.01, 0.05), on_drop=dropped.append) as publisher:
                    for i in range(3):
                        publisher.publish("c", {"type": "n", "data": i})
                    self.assertTrue(publisher.flush(timeout=10))
                self.assertEqual(dropped, [])
                bodies = [body for _, body in hub.requests]
                self.assertEqual(len(bodies), 3, "two refusals, then the same batch again")
                self.assertEqual(bodies[0], bodies[2], "the retry carries the same events with the same ids")

    def test_rate_limited_waits_at_least_retry_after(self) -> None:
        hub = self.stand_in([(429, {"retry-after": "0.3"}, error("rate_limited"))])
        with herald.Publisher(hub.url, retry=herald.Backoff(0.01, 0.02)) as publisher:
            publisher.publish("c", {"type": "n"})
            self.assertTrue(publisher.flush(timeout=10))
        (first, _), (second, _) = hub.requests
        self.assertGreaterEqual(second - first, 0.3)

    def test_the_client_raises_the_hubs_code_status_message_and_retry_after(self) -> None:
        hub = self.stand_in([
            (503, {}, error("storage_unavailable", "SQLITE_FULL: database or disk is full")),
            (429, {"retry-after": "2"}, error("rate_limited")),
            (403, {}, error("forbidden", "may not publish to c")),
            (502, {}, {"not": "herald"}),
        ])
        client = herald.Client(hub.url)
        self.addCleanup(client.close)
        expected = [("storage_unavailable", 503, True, None), ("rate_limited", 429, True, 2.0), ("forbidden", 403, False, None), (None, 502, True, None)]
        for code, status, retryable, retry_after in expected:
            with self.assertRaises(herald.HeraldError) as caught:
                client.publish("c", {"type": "n"})
            e = caught.exception
            self.assertEqual((e.code, e.status, e.retryable, e.retry_after), (code, status, retryable, retry_after))
        self.assertIn("SQLITE_FULL", str(herald.HeraldError("storage_unavailable", "SQLITE_FULL: database or disk is full")))

    def test_no_answer_at_all_is_hub_unreachable(self) -> None:
        client = herald.Client(f"http://127.0.0.1:{closed_port()}")
        with self.assertRaises(herald.HubUnreachable) as caught:
            client.publish("c", {"type": "n"})
        self.assertIsNone(caught.exception.code)
        self.assertTrue(caught.exception.retryable)
        self.assertIn("connection refused", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
