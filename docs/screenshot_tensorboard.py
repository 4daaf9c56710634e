"""Screenshot of the PyTorch profiler plugin's Trace view in a running TensorBoard, for docs/profiling.md.

    npm pack webcomponents.js@0.7.24 && tar xzf webcomponents.js-0.7.24.tgz
    python docs/screenshot_tensorboard.py http://127.0.0.1:6006 docs/tensorboard_trace.png \\
        --run lstm.native_cpu_float32_training_b32_t64_i256_h256_l1_uni --webcomponents package/webcomponents.min.js

The plugin's page loads two scripts from the internet: the Google Charts loader (it waits for it before
drawing any view) and the web-components polyfill its trace viewer needs. On a machine without internet
this drives headless Chromium through the DevTools protocol (over a pipe, no extra packages) and answers
those two requests itself: the polyfill with the same file from its npm package, the charts loader with a
stand-in that only opens that wait once the Trace view, which draws no Google chart, is chosen.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import select
import subprocess
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
]
CHARTS_URL = "https://www.gstatic.com/charts/loader.js"
POLYFILL_URL = "https://cdnjs.cloudflare.com/ajax/libs/webcomponentsjs/0.7.24/webcomponents.min.js"
CHARTS_STAND_IN = "window.google = {charts: {load: () => new Promise(r => { window.releaseCharts = r; })}};"

# Runs in the TensorBoard page: the plugin lives in an iframe of the same origin.
PICK = """((menu, name) => {
  const doc = document.querySelector('iframe').contentDocument;
  const open = doc.querySelector('li[role="option"]');
  if (!open) {
    const label = [...doc.querySelectorAll('*')].find(e => e.children.length === 0 && e.textContent === menu);
    const button = label && label.nextElementSibling.querySelector('[aria-haspopup="listbox"]');
    if (button) button.dispatchEvent(new MouseEvent('mousedown', {bubbles: true, button: 0}));
    return false;
  }
  const item = [...doc.querySelectorAll('li[role="option"]')].find(e => e.textContent === name);
  if (!item) return false;
  item.click();
  return true;
})(%s, %s)"""
RELEASE = "document.querySelector('iframe').contentWindow.releaseCharts(); true"


def _high(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


class Browser:
    def __init__(self, answers: dict[str, bytes]) -> None:
        self.answers = answers
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        # The browser reads commands on fd 3 and answers on fd 4; fds above 4 keep the dup2s from colliding.
        to_browser_r, self.to_browser = (_high(fd) for fd in os.pipe())
        self.from_browser, from_browser_w = (_high(fd) for fd in os.pipe())
        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "--window-size=1400,1000", "about:blank"],
            pass_fds=(3, 4),
            preexec_fn=lambda: (os.dup2(to_browser_r, 3), os.dup2(from_browser_w, 4)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buffer = b""
        self.next_id = 0
        self.session = None

    def _post(self, method: str, **params) -> int:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        return self.next_id

    def _receive(self, timeout_s: float) -> dict | None:
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.from_browser], [], [], timeout_s)
            if not ready:
                return None
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        message = json.loads(raw)
        if message.get("method") == "Fetch.requestPaused":
            self._answer(message["params"])
        return message

    def _answer(self, request: dict) -> None:
        body = self.answers.get(request["request"]["url"])
        if body is None:
            self._post("Fetch.continueRequest", requestId=request["requestId"])
            return
        headers = [{"name": "Content-Type", "value": "application/javascript"}]
        self._post(
            "Fetch.fulfillRequest",
            requestId=request["requestId"],
            responseCode=200,
            responseHeaders=headers,
            body=base64.b64encode(body).decode(),
        )

    def send(self, method: str, **params):
        wanted = self._post(method, **params)
        while True:
            message = self._receive(60)
            if message is None:
                raise TimeoutError(f"no answer to {method}")
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def pump(self, seconds: float) -> None:
        """Keep answering intercepted requests while the page works."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._receive(left)

    def evaluate(self, expression: str):
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def wait_for(browser: Browser, expression: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not browser.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for: {expression[:80]}")
        browser.pump(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tensorboard_url")
    parser.add_argument("png")
    parser.add_argument("--run", help="the run to show (default: the plugin's first)")
    parser.add_argument("--webcomponents", type=Path, required=True, help="webcomponents.min.js 0.7.24")
    parser.add_argument("--settle-s", type=float, default=15.0, help="time for the trace to draw")
    args = parser.parse_args()
    answers = {CHARTS_URL: CHARTS_STAND_IN.encode(), POLYFILL_URL: args.webcomponents.read_bytes()}
    browser = Browser(answers)
    try:
        target = next(t for t in browser.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        browser.session = browser.send("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]
        browser.send("Fetch.enable", patterns=[{"urlPattern": CHARTS_URL}, {"urlPattern": POLYFILL_URL}])
        browser.send("Page.enable")
        browser.send("Page.navigate", url=f"{args.tensorboard_url.rstrip('/')}/#pytorch_profiler")
        if args.run:
            wait_for(browser, PICK % (json.dumps("Runs"), json.dumps(args.run)), 30)
        wait_for(browser, PICK % (json.dumps("Views"), json.dumps("Trace")), 30)
        browser.evaluate(RELEASE)
        browser.pump(args.settle_s)
        shot = browser.send("Page.captureScreenshot", format="png")["data"]
        Path(args.png).write_bytes(base64.b64decode(shot))
    finally:
        browser.close()


if __name__ == "__main__":
    main()
