"""A headless Chromium page driven over the DevTools protocol, for the report tests that click.

``--dump-dom`` shows what a page renders, not what a reviewer can do with it; ticking a decision and
downloading a file needs a live page. The protocol is spoken over the ``websockets`` client (no driver
binary to install); Chromium listens on 127.0.0.1 only, on a port it picks, and is stopped afterwards.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from transforms.publish.report import chromium_command, page_url


class BrowserPage:
    """One page of a headless Chromium: ``evaluate`` JavaScript in it, downloads land in ``downloads``."""

    def __init__(self, browser: str, page: Path, profile: Path, downloads: Path) -> None:
        self.log = profile.parent / "chromium.log"
        self.downloads = downloads
        downloads.mkdir(parents=True, exist_ok=True)
        command = chromium_command(
            browser, profile, "--remote-debugging-port=0", "--enable-logging=stderr", "--v=0", page_url(page)
        )
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and len(port_file.read_text().split()) == 2):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError(f"chromium did not start: {self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        port, path = port_file.read_text().split()
        self.socket = connect(f"ws://127.0.0.1:{port}{path}", max_size=None)
        self._ids = itertools.count(1)
        target = next(t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]
        self.send("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads))
        self.wait_for("document.documentElement?.getAttribute('data-report-ready') === '1'")

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """One protocol command's result (events arriving meanwhile are skipped)."""
        message_id = next(self._ids)
        message = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv(timeout=60))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page; a thrown exception fails the test."""
        result = self.send("Runtime.evaluate", self.session, expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(condition):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {condition}")
            time.sleep(0.1)

    def downloaded(self, name: str, timeout: float = 30) -> Path:
        target = self.downloads / name
        deadline = time.monotonic() + timeout
        while not target.exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"no {name} downloaded; folder has {sorted(self.downloads.iterdir())}")
            time.sleep(0.1)
        return target

    def console(self) -> list[str]:
        """Console messages and uncaught errors so far (CSP violations among them)."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return [line for line in text.splitlines() if ":CONSOLE" in line or "Uncaught" in line]

    def close(self) -> None:
        if getattr(self, "socket", None) is not None:
            self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> BrowserPage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
