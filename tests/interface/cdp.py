"""A small Chrome DevTools Protocol client for the report test: headless Chromium (Debian's
`chromium`), one page, console errors, exceptions and network requests collected while the
page loads, then a script evaluated in the page. Only `websocket-client` is needed."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-allow-origins=*",
    "--hide-scrollbars",
]


def available() -> bool:
    return Path(CHROMIUM).exists()


def need_chromium() -> None:
    """The browser tests run wherever the suite runs (`make test` installs chromium): a
    missing browser fails them, unless CASELOAD_SKIP_BROWSER=1 says to skip on purpose."""
    import os

    import pytest

    if available():
        return
    if os.environ.get("CASELOAD_SKIP_BROWSER") == "1":
        pytest.skip("CASELOAD_SKIP_BROWSER=1: the browser tests are skipped on purpose")
    pytest.fail("chromium is missing: `make chromium` installs it (or CASELOAD_SKIP_BROWSER=1)")


class Page:
    def __init__(self, width: int = 1280, height: int = 900, timeout: float = 60.0):
        import websocket

        self.profile = tempfile.mkdtemp(prefix="caseload-chromium-")
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                *FLAGS,
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start")
            time.sleep(0.05)
        port = int(port_file.read_text().splitlines()[0])
        targets = []
        while not targets:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                targets = [t for t in json.load(r) if t.get("type") == "page"]
            if not targets:
                time.sleep(0.05)
        self.ws = websocket.create_connection(
            targets[0]["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True
        )
        self._id = 0
        self.events: list[dict] = []
        for method in ("Runtime.enable", "Log.enable", "Network.enable", "Page.enable"):
            self.call(method)

    def call(self, method: str, **params) -> dict:
        self._id += 1
        my = self._id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict:
        for e in self.events:
            if e["method"] == method:
                return e
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg
        raise TimeoutError(method)

    def open(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        self.evaluate(
            "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))",
            await_promise=True,
        )

    def evaluate(self, expression: str, await_promise: bool = False):
        res = self.call(
            "Runtime.evaluate",
            expression=expression,
            returnByValue=True,
            awaitPromise=await_promise,
        )
        if "exceptionDetails" in res:
            raise RuntimeError(res["exceptionDetails"])
        return res.get("result", {}).get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors since the page opened."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(
                    "console: "
                    + " ".join(
                        str(a.get("value", a.get("description", ""))) for a in p.get("args", [])
                    )
                )
            elif e["method"] == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:500])
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append("log: " + p["entry"].get("text", "") + " " + p["entry"].get("url", ""))
        return out

    def requests(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e["method"] == "Network.requestWillBeSent"
        ]

    def blocked(self) -> dict[str, str]:
        """url -> why the browser stopped it before it went out (`csp`, ...), for every
        request that failed with a blocked reason."""
        urls = {
            e["params"]["requestId"]: e["params"]["request"]["url"]
            for e in self.events
            if e["method"] == "Network.requestWillBeSent"
        }
        return {
            urls.get(e["params"]["requestId"], "?"): e["params"]["blockedReason"]
            for e in self.events
            if e["method"] == "Network.loadingFailed" and e["params"].get("blockedReason")
        }

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params = {"format": "png"}
        if full_page:
            metrics = self.call("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": size["height"],
                "scale": 1,
            }
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", **params)["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def close(self) -> None:
        try:
            if getattr(self, "ws", None):
                with contextlib.suppress(Exception):  # closing is best effort
                    self.ws.send(json.dumps({"id": 10**6, "method": "Browser.close"}))
                self.ws.close()
        finally:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


CHARTS_JS = """(() => [...document.querySelectorAll('svg.chart')].map(s => {
  const r = s.getBoundingClientRect();
  const marks = [...s.querySelectorAll('.mark')];
  const drawn = marks.filter(m => { const b = m.getBoundingClientRect(); \
return b.width > 0 || b.height > 0; }).length;
  const pr = s.querySelectorAll('path, rect').length;
  return {label: s.getAttribute('aria-label'), width: r.width, height: r.height, \
marks: marks.length, drawn: drawn, paths_rects: pr};
}))()"""
