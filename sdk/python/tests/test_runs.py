"""Runs as context managers against a real hub: the snapshot the hub keeps, and the same snapshot as
the JS publisher gets for the same run (tests/js_run.mjs)."""

from __future__ import annotations

import asyncio
import subprocess
import unittest
from typing import Any, Dict

from support import NODE, HubTestCase, ROOT

import herald

JS_RUN = ROOT / "sdk" / "python" / "tests" / "js_run.mjs"


def run_script(publisher: herald.Publisher, run_id: str) -> None:
    """The run js_run.mjs publishes by hand, written with the helpers."""
    try:
        with publisher.run(run_id, title="Nightly e2e", labels={"team": "web", "suite": "checkout"}) as run:
            with run.step("login", "Log in"):
                run.log("opening the login page")
            run.progress(40, "checkout flow")
            with run.step("checkout", "Checkout"):
                try:
                    with run.step("cart", "Cart"):  # parent: checkout, from the enclosing step
                        run.metric("latency", 230, "ms")
                        run.metric("latency", 180, "ms")
                        run.warning("slow answer from /api/cart")
                        raise AssertionError("HTTP 500 on /api/cart")
                except AssertionError:
                    pass
            with run.step("report", "Report") as step:
                step.skip("no data")
            run.heartbeat()
            run.progress(90)
            raise RuntimeError("upload failed")
    except RuntimeError:
        pass


TIMES = ("createdAt", "startedAt", "updatedAt", "finishedAt", "time", "durationMs")


def comparable(snapshot: Dict[str, Any]) -> Dict[str, Any]:
    """The snapshot without what differs between two runs of one script: ids and times."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in TIMES and k not in ("id", "channel")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(snapshot)


class RunTest(HubTestCase):
    def setUp(self) -> None:
        self.client = herald.Client(self.hub.url)
        self.addCleanup(self.client.close)
        self.publisher = herald.Publisher(self.hub.url)
        self.addCleanup(self.publisher.close, 2)

    def snapshot(self, run_id: str) -> Dict[str, Any]:
        self.assertTrue(self.publisher.flush(timeout=10))
        return self.client.run_snapshot(run_id)

    def test_a_run_that_succeeds(self) -> None:
        with self.publisher.run("py-ok", title="Build", labels={"team": "api"}) as run:
            self.assertEqual(run.channel, "runs.py-ok")
            with run.step("compile", "Compile") as compile_step:
                with run.step("lint") as lint:
                    self.assertEqual(lint.parent, "compile")
                self.assertIsNone(compile_step.parent)
            run.progress(50, "halfway")
            run.metric("files", 120)
        snapshot = self.snapshot("py-ok")
        self.assertEqual((snapshot["status"], snapshot["title"], snapshot["labels"]), ("succeeded", "Build", {"team": "api"}))
        self.assertEqual(snapshot["percent"], 100, "succeeded sets a known percent to 100")
        self.assertEqual([(s["step"], s["status"], s.get("parent")) for s in snapshot["steps"]], [("compile", "passed", None), ("lint", "passed", "compile")])
        self.assertEqual(snapshot["metrics"]["files"]["value"], 120)
        self.assertIsInstance(snapshot["steps"][0]["durationMs"], int)

    def test_an_exception_fails_the_step_and_the_run_and_is_raised_again(self) -> None:
        with self.assertRaisesRegex(ValueError, "boom"):
            with self.publisher.run("py-fail") as run:
                with run.step("explode"):
                    raise ValueError("boom")
        snapshot = self.snapshot("py-fail")
        self.assertEqual(snapshot["status"], "failed")
        self.assertEqual(snapshot["summary"], {"error": "ValueError: boom"})
        self.assertEqual(snapshot["lastError"]["message"], "ValueError: boom")
        self.assertEqual(snapshot["steps"][0]["status"], "failed")
        self.assertEqual(snapshot["steps"][0]["message"], "ValueError: boom")

    def test_keyboard_interrupt_cancels_the_run(self) -> None:
        with self.assertRaises(KeyboardInterrupt):
            with self.publisher.run("py-cancel"):
                raise KeyboardInterrupt()
        self.assertEqual(self.snapshot("py-cancel")["status"], "cancelled")

    def test_bad_run_data_is_refused_at_the_call(self) -> None:
        run = self.publisher.run("py-bad")
        with self.assertRaisesRegex(ValueError, "0 to 100"):
            run.progress(150)
        with self.assertRaisesRegex(ValueError, "finite number"):
            run.metric("x", float("inf"))
        with self.assertRaisesRegex(ValueError, "succeeded, failed, cancelled"):
            run.complete("done")
        with self.assertRaisesRegex(ValueError, "empty segment"):
            self.publisher.run("bad..id")

    def test_async_with_on_the_asyncio_publisher(self) -> None:
        async def main() -> None:
            async with herald.AsyncPublisher(self.hub.url) as publisher:
                async with publisher.run("py-async", title="Agent task") as run:
                    async with run.step("think"):
                        await asyncio.sleep(0.01)
                    run.progress(30)

        asyncio.run(main())
        snapshot = self.client.run_snapshot("py-async")
        self.assertEqual((snapshot["status"], snapshot["title"], snapshot["steps"][0]["status"]), ("succeeded", "Agent task", "passed"))

    def test_the_same_script_gives_the_same_snapshot_as_the_js_publisher(self) -> None:
        done = subprocess.run([NODE, str(JS_RUN), self.hub.url, "js-reference"], cwd=ROOT, capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 0, done.stderr)
        run_script(self.publisher, "py-reference")
        python, js = self.snapshot("py-reference"), self.client.run_snapshot("js-reference")
        self.assertEqual(comparable(python), comparable(js))
        # And it is the run one would expect, not two identical mistakes.
        self.assertEqual(python["status"], "failed")
        self.assertEqual([(s["step"], s["status"], s.get("parent")) for s in python["steps"]], [("login", "passed", None), ("checkout", "passed", None), ("cart", "failed", "checkout"), ("report", "skipped", None)])
        self.assertEqual(python["counts"], js["counts"])
        self.assertEqual(python["events"], 17)
        self.assertEqual(python["lastError"]["message"], "RuntimeError: upload failed")


if __name__ == "__main__":
    unittest.main()
