"""Headless Chromium driven over the DevTools protocol, with no library:
the protocol's WebSocket is transport.RawWS. A test opens a page, reads the
DOM through Runtime.evaluate, clicks and types with real input events,
collects console errors, CSP violations and failed loads, and takes
screenshots.

    with Chromium(tmp) as b:
        p = b.page()
        p.navigate("http://127.0.0.1:%d/" % port)
        p.wait_js("document.title !== ''")
        check(not p.errors(), p.errors())

Every wait is bounded; the browser's process group is killed on exit.
"""
import base64
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from transport import RawWS

CHROMIUM = "chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--disable-extensions",
         "--hide-scrollbars", "--mute-audio"]


class CDPError(Exception):
    pass


class Chromium:
    def __init__(self, tmp, width=1280, height=800, extra=()):
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
        self.proc = subprocess.Popen(
            [CHROMIUM] + FLAGS + list(extra) +
            ["--window-size=%d,%d" % (width, height),
             "--user-data-dir=" + self.profile,
             "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.port = None
        try:
            self.port = self._devtools_port()
        except Exception:
            self.close()
            raise
        self.pages = []

    def _devtools_port(self, timeout=60):
        # Chromium writes its port here once it listens.
        path = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise CDPError("chromium exited with %d"
                               % self.proc.returncode)
            try:
                with open(path) as f:
                    line = f.readline().strip()
                if line:
                    return int(line)
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise CDPError("chromium gave no DevTools port in %ds" % timeout)

    def _json(self, path, method="GET"):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request(method, path)
            r = c.getresponse()
            return json.loads(r.read())
        finally:
            c.close()

    def page(self):
        """The first tab (about:blank), attached."""
        deadline = time.time() + 30
        while time.time() < deadline:
            for t in self._json("/json/list"):
                if t.get("type") == "page" and \
                        t.get("webSocketDebuggerUrl"):
                    p = Page(self.port, t["id"])
                    self.pages.append(p)
                    return p
            time.sleep(0.1)
        raise CDPError("no page target")

    def close(self):
        for p in getattr(self, "pages", []):
            p.close()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class Page:
    def __init__(self, port, target):
        self.ws = RawWS(port, path="/devtools/page/" + target,
                        protocols=None)
        if self.ws.status != 101:
            raise CDPError("DevTools upgrade: %r" % self.ws.status)
        self.next_id = 0
        self.events = []
        self.responses = {}     # url -> Network.responseReceived params
        self._urls = {}         # requestId -> url
        self._wire = {}         # requestId -> status on the wire
        self.call("Runtime.enable")
        self.call("Log.enable")
        self.call("Network.enable")
        self.call("Page.enable")

    # The protocol: one JSON text message each way per call; events
    # arrive in between and are kept.
    def _recv(self, timeout):
        data, deadline = b"", time.time() + timeout
        while True:
            fin, op, p = self.ws.recv_frame(max(0.01, deadline -
                                                time.time()))
            if op == 8:
                raise CDPError("DevTools connection closed")
            if op == 9:
                self.ws.send(10, p)
                continue
            if op in (1, 2, 0):
                data += p
                if fin:
                    return json.loads(data)

    def _event(self, m):
        self.events.append(m)
        p = m["params"]
        if m["method"] == "Network.requestWillBeSent":
            self._urls[p["requestId"]] = p["request"]["url"]
        elif m["method"] == "Network.responseReceived":
            self.responses[p["response"]["url"]] = p["response"]
        elif m["method"] == "Network.responseReceivedExtraInfo":
            self._wire[p["requestId"]] = p["statusCode"]

    def wire_status(self):
        """url -> the status on the wire of its last request: a 304 is
        reported by responseReceived as the cached 200. (The extra info
        may come before or after the request's other events.)"""
        return {self._urls[i]: st for i, st in self._wire.items()
                if i in self._urls}

    def forget_requests(self):
        self._urls.clear()
        self._wire.clear()

    def call(self, method, timeout=30, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(1, json.dumps({"id": mid, "method": method,
                                    "params": params}).encode())
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise CDPError("%s: no answer in %ds" % (method, timeout))
            m = self._recv(left)
            if "method" in m:
                self._event(m)
            elif m.get("id") == mid:
                if "error" in m:
                    raise CDPError("%s: %s" % (method, m["error"]))
                return m.get("result", {})

    def pump(self, seconds=0.0):
        """Read events for a while (or those already there)."""
        deadline = time.time() + seconds
        while True:
            try:
                m = self._recv(max(0.01, deadline - time.time()))
            except TimeoutError:
                return
            if "method" in m:
                self._event(m)
            if time.time() >= deadline:
                return

    def navigate(self, url, timeout=30):
        n = len(self.events)
        r = self.call("Page.navigate", url=url)
        if r.get("errorText"):
            raise CDPError("navigate %s: %s" % (url, r["errorText"]))
        self.wait_event("Page.loadEventFired", timeout, start=n)

    def wait_event(self, method, timeout=30, start=0):
        deadline = time.time() + timeout
        while True:
            for m in self.events[start:]:
                if m["method"] == method:
                    return m
            if time.time() >= deadline:
                raise CDPError("no %s in %ds" % (method, timeout))
            try:
                m = self._recv(max(0.01, deadline - time.time()))
            except TimeoutError:
                continue
            if "method" in m:
                self._event(m)

    def js(self, expr, await_promise=False):
        """The value of a JS expression (JSON-able), or CDPError."""
        r = self.call("Runtime.evaluate", expression=expr,
                      returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in r:
            raise CDPError("%s: %s" % (expr, r["exceptionDetails"].get(
                "exception", {}).get("description", r["exceptionDetails"])))
        return r["result"].get("value")

    def wait_js(self, expr, timeout=20, what=None):
        """Poll until expr is truthy; its value."""
        deadline = time.time() + timeout
        while True:
            v = self.js(expr)
            if v:
                return v
            if time.time() >= deadline:
                raise AssertionError("timed out (%ds) waiting for %s"
                                     % (timeout, what or expr))
            time.sleep(0.05)

    def center(self, selector):
        r = self.js("(() => { const e = document.querySelector(%s);"
                    " if (!e) return null; e.scrollIntoView({block:"
                    " 'center'}); const r = e.getBoundingClientRect();"
                    " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
                    % json.dumps(selector))
        if r is None:
            raise AssertionError("no element %s" % selector)
        return r

    def click(self, selector):
        """A real left click in the middle of the element."""
        x, y = self.center(selector)
        for t in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=t, x=x, y=y,
                      button="left" if t != "mouseMoved" else "none",
                      clickCount=1 if t != "mouseMoved" else 0)

    def type_into(self, selector, text, enter=True):
        """Replace an input's text as a user would: focus, select all,
        type, Enter."""
        self.click(selector)
        self.js("document.querySelector(%s).select()" % json.dumps(selector))
        self.call("Input.insertText", text=text)
        if enter:
            for t in ("keyDown", "keyUp"):
                self.call("Input.dispatchKeyEvent", type=t, key="Enter",
                          code="Enter", windowsVirtualKeyCode=13,
                          nativeVirtualKeyCode=13,
                          **({"text": "\r"} if t == "keyDown" else {}))

    def screenshot(self, path):
        r = self.call("Page.captureScreenshot", format="png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
        return path

    def errors(self):
        """Console errors, uncaught exceptions, CSP violations and failed
        loads seen so far, as text."""
        self.pump()
        out = []
        for m in self.events:
            p = m["params"]
            if m["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append("exception: %s" % d.get("exception", {}).get(
                    "description", d.get("text")))
            elif m["method"] == "Runtime.consoleAPICalled" and \
                    p["type"] in ("error", "assert"):
                out.append("console.%s: %s" % (p["type"], " ".join(
                    str(a.get("value", a.get("description")))
                    for a in p["args"])))
            elif m["method"] == "Log.entryAdded" and \
                    p["entry"]["level"] == "error":
                out.append("log: %s %s" % (p["entry"].get("text"),
                                           p["entry"].get("url", "")))
            elif m["method"] == "Network.loadingFailed" and \
                    not p.get("canceled"):
                out.append("load failed: %s" % p.get("errorText"))
        return out

    def close(self):
        self.ws.close()
