"""Credentials as the JS client sends them (docs/security.md): an API key or token as
``Authorization: Bearer``, from ``api_key``, a function, or ``$HERALD_API_KEY``; refusals carry
``unauthorized`` / ``forbidden`` and are not retried."""

from __future__ import annotations

import os
import unittest
from typing import List
from unittest import mock

from support import HubTestCase, cli

import herald


class AuthTest(HubTestCase):
    admin = ""
    team_a = ""

    @classmethod
    def prepare_data(cls, data_dir: str) -> None:
        cls.admin = cli("keys", "create", "--name", "admin", "--allow", "admin", data_dir=data_dir).strip()
        cls.team_a = cli("keys", "create", "--name", "team-a", "--allow", "publish:runs.team-a.>", data_dir=data_dir).strip()

    def client(self, api_key: object = None) -> herald.Client:
        client = herald.Client(self.hub.url, api_key=api_key)  # type: ignore[arg-type]
        self.addCleanup(client.close)
        return client

    def test_the_keys_were_created(self) -> None:
        self.assertTrue(self.admin.startswith("hk_") and self.team_a.startswith("hk_"))

    def test_without_credentials_the_client_raises_unauthorized(self) -> None:
        with self.assertRaises(herald.HeraldError) as caught:
            self.client().publish("runs.team-a.x", {"type": "log", "data": {"message": "hi"}})
        self.assertEqual((caught.exception.code, caught.exception.status, caught.exception.retryable), ("unauthorized", 401, False))

    def test_a_key_is_sent_as_a_bearer_header_from_the_argument_a_function_or_the_environment(self) -> None:
        calls: List[int] = []

        def token() -> str:
            calls.append(1)
            return self.admin

        self.client(self.admin).publish("auth.arg", {"type": "n"})
        self.client(token).publish("auth.fn", {"type": "n"})
        self.assertEqual(len(calls), 1)
        with mock.patch.dict(os.environ, {"HERALD_API_KEY": self.admin}):
            with herald.Publisher(self.hub.url) as publisher:
                publisher.publish("auth.env", {"type": "n"})
                self.assertTrue(publisher.flush(timeout=10))
        client = self.client(self.admin)
        for channel in ("auth.arg", "auth.fn", "auth.env"):
            self.assertEqual(len(client.read_all(channel)), 1, channel)
        self.assertEqual(client.me()["principal"]["name"], "admin")

    def test_the_publisher_drops_refused_events_with_the_hubs_reason_instead_of_retrying(self) -> None:
        dropped: List[herald.Dropped] = []
        with herald.Publisher(self.hub.url, api_key=self.team_a, on_drop=dropped.append) as publisher:
            publisher.publish("runs.team-a.ok", {"type": "n"})
            publisher.publish("runs.team-b.nope", {"type": "n"})
            self.assertTrue(publisher.flush(timeout=10))
        with herald.Publisher(self.hub.url, api_key="hk_not-a-key", on_drop=dropped.append) as publisher:
            publisher.publish("runs.team-a.ok", {"type": "n"})
            self.assertTrue(publisher.flush(timeout=10))
        self.assertEqual([(d.channel, d.error and d.error.code) for d in dropped], [("runs.team-b.nope", "forbidden"), ("runs.team-a.ok", "unauthorized")])
        self.assertEqual(len(self.client(self.admin).read_all("runs.team-a.ok")), 1)

    def test_subscribe_sends_the_key_and_raises_refusals_instead_of_reconnecting(self) -> None:
        self.client(self.admin).publish("auth.watch", {"type": "n", "data": 1})
        with herald.subscribe("auth.watch", url=self.hub.url, api_key=self.admin, since=0) as subscription:
            event = next(subscription)
            assert isinstance(event, herald.Event)
            self.assertEqual(event.data, 1)
        for key, code in ((self.team_a, "forbidden"), ("hk_not-a-key", "unauthorized"), (None, "unauthorized")):
            with self.subTest(code=code), herald.subscribe("auth.watch", url=self.hub.url, api_key=key) as subscription:
                with self.assertRaises(herald.HeraldError) as caught:
                    next(subscription)
                self.assertEqual(caught.exception.code, code)
                self.assertEqual(subscription.connections, 1)


if __name__ == "__main__":
    unittest.main()
