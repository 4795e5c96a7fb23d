"""Starts the real hub (``herald serve``) for the tests, as packages/server/test/support/process.ts
does: port 0 unless given, a data folder, the URL read from the line it prints."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path
from typing import Callable, List, Optional

ROOT = Path(__file__).resolve().parents[3]
CLI = ROOT / "packages" / "cli" / "dist" / "main.js"
NODE = shutil.which("node") or "node"
SDK = ROOT / "sdk" / "python"
if str(SDK) not in sys.path:
    sys.path.insert(0, str(SDK))
# The tests choose their credentials; one exported in the shell must not leak into them.
os.environ.pop("HERALD_API_KEY", None)
os.environ.pop("HERALD_URL", None)


class Hub:
    """One ``herald serve`` process; :meth:`restart` brings it back on the same port and data folder."""

    def __init__(self, data_dir: str, extra: Optional[List[str]] = None) -> None:
        self.data_dir = data_dir
        self.extra = list(extra or [])
        self.port = 0
        self.url = ""
        self.process: Optional[subprocess.Popen[str]] = None
        self.output: List[str] = []

    def start(self, timeout: float = 20.0) -> "Hub":
        args = [NODE, str(CLI), "serve", "--port", str(self.port), "--data", self.data_dir, "--log-level", "warn", *self.extra]
        process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.process = process
        found = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:  # drained to the end, so the hub never blocks on a full pipe
                self.output.append(line)
                match = re.search(r"listening on (http://\S+)", line)
                if match and not found.is_set():
                    self.url = match.group(1)
                    found.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.05):
            if process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("herald serve did not start:\n" + "".join(self.output))
        self.port = int(self.url.rsplit(":", 1)[1].rstrip("/"))
        return self

    def kill(self) -> None:
        """SIGKILL (by PID) and wait: the hub gets no chance to finish anything."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)
            self._reader.join(5)
            if self.process.stdout is not None:
                self.process.stdout.close()

    def stop(self) -> None:
        """SIGTERM (graceful shutdown), SIGKILL if it takes too long."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def restart(self, pause: float = 0.0) -> "Hub":
        self.kill()
        time.sleep(pause)
        return self.start()


class HubTestCase(unittest.TestCase):
    """A hub per test class, in a temporary data folder (``hub_args`` adds flags)."""

    hub_args: List[str] = []
    hub: Hub
    tmp: tempfile.TemporaryDirectory

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory(prefix="herald-py-")
        cls.prepare_data(cls.tmp.name)
        cls.hub = Hub(cls.tmp.name, cls.hub_args).start()

    @classmethod
    def prepare_data(cls, data_dir: str) -> None:
        """Runs before the hub starts (to create API keys, say)."""

    @classmethod
    def tearDownClass(cls) -> None:
        cls.hub.kill()
        cls.tmp.cleanup()


def until(test: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Polls ``test`` every 10 ms until it holds; fails with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def closed_port() -> int:
    """A local port with nothing listening (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cli(*args: str, data_dir: str) -> str:
    """Runs ``herald <args> --data <dir>`` and returns its standard output."""
    done = subprocess.run([NODE, str(CLI), *args, "--data", data_dir], cwd=ROOT, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"herald {' '.join(args)} failed: {done.stderr}")
    return done.stdout
