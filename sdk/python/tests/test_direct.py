"""Client.send (direct messages) against a real hub with credentials: delivered to the one client id's
WebSocket (a small Node recipient, tests/js_direct_recipient.mjs: the SDK opens no WebSocket),
unknown_client and forbidden raised as HeraldError, bad ids refused before anything is sent."""

from __future__ import annotations

import json
import subprocess
from typing import Any, Dict

from support import NODE, ROOT, HubTestCase, cli

import herald

RECIPIENT = ROOT / "sdk" / "python" / "tests" / "js_direct_recipient.mjs"


class DirectTest(HubTestCase):
    admin = ""
    dispatcher = ""

    @classmethod
    def prepare_data(cls, data_dir: str) -> None:
        cls.admin = cli("keys", "create", "--name", "admin", "--allow", "admin", data_dir=data_dir).strip()
        cls.dispatcher = cli("keys", "create", "--name", "dispatcher", "--allow", "publish:clients.team-a.>", data_dir=data_dir).strip()

    def client(self, api_key: str) -> herald.Client:
        client = herald.Client(self.hub.url, api_key=api_key)
        self.addCleanup(client.close)
        return client

    def recipient(self, client_id: str) -> "subprocess.Popen[str]":
        process = subprocess.Popen([NODE, str(RECIPIENT), self.hub.url, client_id, self.admin], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def stop() -> None:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(10)
            assert process.stdout is not None
            process.stdout.close()

        self.addCleanup(stop)
        self.assertEqual(self.line(process)["op"], "hello")
        return process

    def line(self, process: "subprocess.Popen[str]") -> Dict[str, Any]:
        assert process.stdout is not None
        text = process.stdout.readline()
        self.assertNotEqual(text, "", "the recipient ended before printing")
        return json.loads(text)

    def test_send_reaches_the_client_id_and_says_delivered(self) -> None:
        worker = self.recipient("team-a.w1")
        status = self.client(self.dispatcher).send("team-a.w1", {"type": "job", "data": {"n": 1}})
        self.assertEqual(status, "delivered")
        message = self.line(worker)
        self.assertEqual(message["op"], "direct")
        self.assertEqual(message["event"], {"type": "job", "severity": "info", "data": {"n": 1}})
        self.assertEqual(message["from"], {"user": "dispatcher"})

    def test_an_unknown_client_id_raises_unknown_client(self) -> None:
        with self.assertRaises(herald.HeraldError) as caught:
            self.client(self.dispatcher).send("team-a.nobody", {"type": "job"})
        self.assertEqual((caught.exception.code, caught.exception.status), ("unknown_client", 404))
        self.assertFalse(caught.exception.retryable)

    def test_without_publish_on_clients_id_it_raises_forbidden(self) -> None:
        self.recipient("team-b.w1")
        with self.assertRaises(herald.HeraldError) as caught:
            self.client(self.dispatcher).send("team-b.w1", {"type": "job"})
        self.assertEqual(caught.exception.code, "forbidden")
        self.assertEqual(self.client(self.admin).send("team-b.w1", {"type": "job"}), "delivered", "admin may message anyone")

    def test_bad_ids_and_events_are_refused_before_sending(self) -> None:
        client = self.client(self.admin)
        for bad in ["", "has space", "x" * 65, 7]:
            with self.assertRaises(ValueError):
                client.send(bad, {"type": "job"})  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            client.send("team-a.w1", {"data": 1})
