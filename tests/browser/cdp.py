"""A small Chrome DevTools Protocol driver for the browser tests: headless Chromium opens
a page from disk, and the tests read what a reader would see (console errors, loaded
images, laid-out formulas, where the navigation lands, a full-page screenshot).

Only the handful of protocol calls the tests need; every wait has a deadline, so a browser
that hangs fails the test instead of the CI run.

Examples
--------
>>> exe = find_chromium()
>>> with Browser(exe) as browser:  # doctest: +SKIP
...     browser.open("report/index.html")
...     problems = page_problems(browser)
"""

from __future__ import annotations

import base64
import json
import math
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import websocket

# The script that installs Chromium where it can (CI), or says how.
INSTALL = "tests/browser/install-chromium"
# Looked for in this order; install-chromium checks the same names.
NAMES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
# A laptop-sized viewport: the report's fixed navigation and its jumps are judged in it.
VIEWPORT = (1280, 800)
# Chromium refuses textures much taller than this; longer pages are cut at the bottom.
MAX_SCREENSHOT_HEIGHT = 16384


def find_chromium() -> str | None:
    """The headless Chromium to drive: ``$BAYESMIN_CHROMIUM``, else the first of
    :data:`NAMES` on ``PATH``; ``None`` when there is none."""
    given = os.environ.get("BAYESMIN_CHROMIUM")
    if given and os.access(given, os.X_OK):
        return given
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    """Chromium did not start, answer or load in time, or a call failed."""


class Browser:
    """One headless Chromium with one page, driven over the DevTools protocol.

    Parameters
    ----------
    executable : str
        Path of the Chromium (or headless-shell) executable.
    timeout : float
        Seconds allowed for each wait: start-up, each call's answer, each page load.

    Attributes
    ----------
    errors : list of str
        Console errors of the page opened last: ``console.error`` calls, uncaught
        exceptions, and browser log errors (a resource that failed to load, such as a
        missing image).
    """

    def __init__(self, executable: str, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.errors: list[str] = []
        self._events: list[dict[str, Any]] = []
        self._next_id = 0
        self._ws: websocket.WebSocket | None = None
        self._profile = tempfile.mkdtemp(prefix="bayesmin-chromium-")
        self._stderr: queue.Queue[str] = queue.Queue()
        self._stderr_tail: list[str] = []
        # Its own session, so close() can end Chromium's helper processes with it.
        self._proc = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-sandbox",  # CI runs as root, where the sandbox will not start
                "--disable-gpu",
                "--disable-dev-shm-usage",  # containers often give /dev/shm only 64 MB
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        # A reader thread: Chromium's stderr is read with a deadline, and drained for the
        # whole run so a full pipe never blocks the browser.
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ start-up

    def _drain_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.put(line)

    def _connect(self) -> None:
        deadline = time.monotonic() + self.timeout
        endpoint = None
        while endpoint is None:
            try:
                line = self._stderr.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise self._failure("did not print its DevTools address") from None
            self._stderr_tail = [*self._stderr_tail[-19:], line.rstrip()]
            if line.startswith("DevTools listening on ws://"):
                endpoint = line.split("ws://", 1)[1].split("/", 1)[0]
        # The browser's own socket is printed; the page's is listed at /json.
        page = None
        while page is None:
            try:
                with urllib.request.urlopen(f"http://{endpoint}/json", timeout=5) as reply:
                    targets = json.load(reply)
                page = next((t for t in targets if t.get("type") == "page"), None)
            except OSError:  # not listening yet: ask again until the deadline
                pass
            if page is None:
                if time.monotonic() > deadline:
                    raise self._failure("listed no page target")
                time.sleep(0.1)
        # Without an Origin header: Chromium refuses sockets from origins it does not allow.
        self._ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=self.timeout, suppress_origin=True
        )
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self._set_viewport(*VIEWPORT)

    def _failure(self, what: str) -> BrowserError:
        return BrowserError(
            f"Chromium {what} within {self.timeout:g} s; its stderr ended:\n"
            + "\n".join(self._stderr_tail)
        )

    # ------------------------------------------------------------------ protocol

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one protocol command and return its result; events that arrive before the
        answer are kept for :meth:`wait_for`."""
        if self._ws is None:
            raise BrowserError("the browser is closed")
        self._next_id += 1
        self._ws.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline, method)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})

    def wait_for(self, event: str) -> dict[str, Any]:
        """The params of the first event ``event`` since the last :meth:`open`, waiting for
        it if it has not come yet."""
        deadline = time.monotonic() + self.timeout
        seen = 0
        while True:
            for e in self._events[seen:]:
                if e["method"] == event:
                    self._events.remove(e)
                    return e.get("params", {})
            seen = len(self._events)
            self._receive(deadline, event)

    def _receive(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        assert self._ws is not None
        left = deadline - time.monotonic()
        if left <= 0:
            raise BrowserError(f"no answer to {waiting_for} within {self.timeout:g} s")
        self._ws.settimeout(left)
        try:
            message = json.loads(self._ws.recv())
        except websocket.WebSocketTimeoutException:
            raise BrowserError(f"no answer to {waiting_for} within {self.timeout:g} s") from None
        if "method" in message:
            self._note_error(message)
            self._events.append(message)
        return message

    def _note_error(self, event: dict[str, Any]) -> None:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = params.get("args", [])
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in args)
            self.errors.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            self.errors.append(f"uncaught exception: {text}")
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                where = f" ({entry['url']})" if entry.get("url") else ""
                self.errors.append(f"{entry.get('source', 'log')}: {entry.get('text')}{where}")

    # ------------------------------------------------------------------ pages

    def open(self, path: str | os.PathLike) -> None:
        """Load a page from disk and wait for its load event (images included)."""
        self.errors.clear()
        self._events.clear()
        url = Path(path).resolve().as_uri()
        result = self.call("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"could not open {url}: {result['errorText']}")
        self.wait_for("Page.loadEventFired")
        # One more round trip, so log entries queued during the load have arrived.
        self.evaluate("document.readyState")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable values)."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"JavaScript failed: {text}")
        return result["result"].get("value")

    def screenshot(self, path: str | os.PathLike) -> list[Path]:
        """Save PNGs of the whole page (not only the viewport): ``path``, then ``path``'s
        stem with ``-2``, ``-3``… for each further :data:`MAX_SCREENSHOT_HEIGHT` of a long
        page (a bitmap taller than that is cut off by Chromium). The files, top first."""
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        width = max(VIEWPORT[0], math.ceil(size["width"]))
        total = math.ceil(size["height"])
        path, paths = Path(path), []
        try:
            for k, top in enumerate(range(0, max(total, 1), MAX_SCREENSHOT_HEIGHT)):
                height = min(MAX_SCREENSHOT_HEIGHT, total - top) or VIEWPORT[1]
                # A viewport as tall as the tile, so what lies below the fold is laid out
                # and painted; as wide as before, so the page does not reflow: content
                # wider than the viewport is captured beyond it, as a reader would scroll.
                self._set_viewport(VIEWPORT[0], height)
                clip = {"x": 0, "y": top, "width": width, "height": height, "scale": 1}
                shot = self.call(
                    "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
                )
                tile = path if k == 0 else path.with_name(f"{path.stem}-{k + 1}{path.suffix}")
                tile.write_bytes(base64.b64decode(shot["data"]))
                paths.append(tile)
        finally:
            self._set_viewport(*VIEWPORT)
        return paths

    def _set_viewport(self, width: int, height: int) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    # ------------------------------------------------------------------ shutdown

    def close(self) -> None:
        """End Chromium and its helper processes and remove the temporary profile."""
        if self._ws is not None:
            try:
                self._ws.close()
            except (OSError, websocket.WebSocketException):  # already gone: nothing to close
                pass
            self._ws = None
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGTERM)
                self._proc.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        # Helpers (renderer, zygote) that outlived the browser process share its group.
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# In-page checks, one script: a list of what is broken, empty for a sound page.
_IMAGES_AND_LINKS = """(() => {
  const problems = [];
  for (const img of document.images) {
    if (!(img.complete && img.naturalWidth > 0)) {
      problems.push(`image not loaded: ${img.getAttribute("src")}`);
    }
  }
  for (const a of document.querySelectorAll('a[href^="#"]')) {
    const href = a.getAttribute("href");
    if (!document.getElementById(decodeURIComponent(href.slice(1)))) {
      problems.push(`in-page link ${href} names no element`);
    }
  }
  return problems;
})()"""

# Each navigation link is clicked, as a reader would; its target should then sit at the top
# of the viewport, or, near the end of the page where no further scrolling is possible,
# inside it.
_NAVIGATION = """(() => {
  const problems = [];
  const links = [...document.querySelectorAll('nav a[href^="#"]')];
  for (const a of links) {
    const href = a.getAttribute("href");
    const target = document.getElementById(decodeURIComponent(href.slice(1)));
    if (!target) continue;  // reported by the link check
    a.click();
    const box = target.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) {
      problems.push(`navigation link ${href} leads to a section with no box (hidden)`);
      continue;
    }
    const top = box.top;
    const root = document.scrollingElement;
    const atEnd = root.scrollTop + innerHeight >= root.scrollHeight - 2;
    if (!(Math.abs(top) <= 2 || (atEnd && top >= 0 && top < innerHeight))) {
      problems.push(`navigation link ${href} leaves its section at ${Math.round(top)} px`);
    }
  }
  history.replaceState(null, "", location.pathname);
  scrollTo(0, 0);
  return {problems, links: links.length};
})()"""

# Closed <details> hide what they hold; opened, every formula in them is measured too.
_FORMULAS = """(() => {
  for (const d of document.querySelectorAll("details")) d.open = true;
  const problems = [];
  [...document.querySelectorAll("math")].forEach((m, i) => {
    const r = m.getBoundingClientRect();
    if (!(r.width > 0 && r.height > 0)) {
      const html = m.outerHTML.length > 80 ? m.outerHTML.slice(0, 80) + "…" : m.outerHTML;
      problems.push(`formula ${i + 1} has an empty box (${r.width} x ${r.height}): ${html}`);
    }
  });
  return problems;
})()"""


_WIDTH = """
(() => {
  const page = document.documentElement.scrollWidth, window_ = window.innerWidth;
  return page > window_ + 1 ? [`page is wider than the window (${page} px > ${window_} px)`] : [];
})()
"""


def page_problems(browser: Browser, screenshot: str | os.PathLike | None = None) -> list[str]:
    """What is broken on the page ``browser`` opened last, as a reader would find it.

    Console errors; images that did not load; in-page links (``#id``) that name no
    element; navigation links that do not bring their section into view; MathML
    formulas with an empty box (zero width or height); a page wider than the window
    (a table that pushes the whole page sideways). An empty list for a sound page.
    With ``screenshot``, a full-page PNG is saved there after the checks, every
    ``<details>`` open.
    """
    seen = len(browser.errors)
    problems = [f"console error: {e}" for e in browser.errors[:seen]]
    problems += browser.evaluate(_IMAGES_AND_LINKS)
    problems += browser.evaluate(_NAVIGATION)["problems"]
    problems += browser.evaluate(_FORMULAS)
    problems += browser.evaluate(_WIDTH)
    if screenshot is not None:
        browser.screenshot(screenshot)
    # Anything logged while the checks ran (a script error, a late load failure).
    problems += [f"console error: {e}" for e in browser.errors[seen:]]
    return problems
