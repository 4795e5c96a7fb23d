"""Uploads from Python against a real hub: the round trip, the reference in an event, refusals."""

from __future__ import annotations

import hashlib
import os
import tempfile
import unittest
import urllib.request

from support import HubTestCase, cli

import herald

FAST_RETRY = herald.Backoff(0.05, 0.5)
# The eight-byte PNG signature and an IHDR chunk: enough for a file that says it is a PNG.
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)


class AttachmentTest(HubTestCase):
    hub_args = ["--max-attachment-bytes", "64KiB"]

    def setUp(self) -> None:
        self.client = herald.Client(self.hub.url)
        self.addCleanup(self.client.close)

    def test_uploads_a_file_and_an_event_references_it(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "shot.png")
            with open(path, "wb") as handle:
                handle.write(PNG)
            with herald.Publisher(self.hub.url, retry=FAST_RETRY) as publisher:
                attachment = publisher.upload("runs.py-shots", path)
                publisher.publish("runs.py-shots", {"type": "log", "data": {"message": "screenshot", "attachments": [attachment.ref]}})
                self.assertTrue(publisher.flush(10))
        digest = hashlib.sha256(PNG).hexdigest()
        self.assertEqual(attachment.id, digest)
        self.assertEqual(attachment.sha256, digest)
        self.assertEqual(attachment.content_type, "image/png")
        self.assertEqual(attachment.size, len(PNG))
        self.assertEqual(attachment.ref, {"id": digest, "name": "shot.png", "contentType": "image/png", "size": len(PNG)})
        with urllib.request.urlopen(self.hub.url + attachment.url) as response:
            self.assertEqual(response.read(), PNG)
            self.assertEqual(response.headers["content-type"], "image/png")
            self.assertEqual(response.headers["x-content-type-options"], "nosniff")
        [event] = self.client.read_all("runs.py-shots")
        self.assertEqual(event["event"]["data"]["attachments"], [attachment.ref])

    def test_uploads_bytes_with_the_type_and_name_given(self) -> None:
        attachment = self.client.upload("py.files", b'{"ok": true}', content_type="application/json", name="result.json")
        self.assertEqual((attachment.name, attachment.content_type), ("result.json", "application/json"))
        again = self.client.upload("py.files", b'{"ok": true}', content_type="application/json", name="result.json")
        self.assertEqual(again.id, attachment.id, "the same bytes are the same attachment")

    def test_refusals_raise_with_the_hubs_code_and_are_not_retried(self) -> None:
        with herald.Publisher(self.hub.url, retry=FAST_RETRY) as publisher:
            with self.assertRaises(herald.HeraldError) as big:
                publisher.upload("py.files", os.urandom(64 * 1024 + 1), content_type="image/png")
            self.assertEqual((big.exception.status, big.exception.code), (413, "attachment_too_large"))
            with self.assertRaises(herald.HeraldError) as typed:
                publisher.upload("py.files", b"MZ", content_type="application/x-msdownload")
            self.assertEqual((typed.exception.status, typed.exception.code), (415, "attachment_type_not_allowed"))


class AttachmentAccessTest(HubTestCase):
    @classmethod
    def prepare_data(cls, data_dir: str) -> None:
        cls.reader = cli("keys", "create", "--name", "reader", "--allow", "subscribe:>", data_dir=data_dir).strip().split()[-1]

    def test_a_key_that_may_only_subscribe_cannot_upload(self) -> None:
        with herald.Client(self.hub.url, api_key=self.reader) as client:
            with self.assertRaises(herald.HeraldError) as refused:
                client.upload("py.files", b"x", content_type="text/plain")
        self.assertEqual((refused.exception.status, refused.exception.code), (403, "forbidden"))


if __name__ == "__main__":
    unittest.main()
