#!/usr/bin/python3
"""A real browser: headless Chromium runs MQTT.js from a test page, over ws
and over wss, subscribes, and receives a ~1 MB message and a burst of
10,000 small ones without loss. The page reports to a small HTTP server
run by this test."""
import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading

import fhtest
from fhtest import SRCDIR, Daemon, check, free_port, need, wait_port
from transport import Paho, make_pki

SRC = os.path.abspath(SRCDIR)
PAGE = os.path.join(SRC, "tests", "integration", "browser", "index.html")
MQTTJS = os.path.join(SRC, "tests", "integration", "node", "node_modules",
                      "mqtt", "dist", "mqtt.min.js")
COUNT = 10000

CONF = """[broker]
anonymous_publish = true
sys_interval = 0
max_queued_messages = 20000
[listener tcp]
bind = 127.0.0.1:{port}
[listener web]
protocol = ws
bind = 127.0.0.1:{ws}
path = /mqtt
allowed_origins = http://127.0.0.1:{http}
[listener secure-web]
protocol = wss
bind = 127.0.0.1:{wss}
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
path = /mqtt
allowed_origins = http://127.0.0.1:{http}
"""


class Reports:
    def __init__(self):
        self.ready = threading.Event()
        self.done = threading.Event()
        self.result = None


def serve(root, port, reports):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=root, **kw)

        def log_message(self, *a):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            if self.path == "/ready":
                reports.ready.set()
            elif self.path == "/result":
                reports.result = json.loads(body)
                reports.done.set()
            self.send_response(204)
            self.end_headers()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def browse(d, tmp, url, topic):
    reports = Reports()
    srv = serve(os.path.join(tmp, "www"), d.ports["http"], reports)
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
    page = "http://127.0.0.1:%d/index.html?url=%s&n=%d&topic=%s" % (
        d.ports["http"], url, COUNT, topic)
    proc = subprocess.Popen(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--ignore-certificate-errors",
         "--user-data-dir=" + profile, page],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        check(reports.ready.wait(60) or reports.done.is_set(),
              "%s: page never subscribed" % url)
        check(not reports.done.is_set(), "%s: %r" % (url, reports.result))
        pub = Paho(d.port)
        pub.pub(topic + "/big", bytes(range(256)) * 3900, qos=1)
        for i in range(COUNT):
            pub.c.publish(topic + "/small", "m%d" % i, qos=1)
        pub.pub(topic + "/nothing", b"", qos=1)  # all sent before this
        check(reports.done.wait(90), "%s: no result from the page" % url)
        pub.close()
        r = reports.result
        check(r["ok"] and r["got"] == COUNT + 1, "%s: %r" % (url, r))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        srv.shutdown()
        srv.server_close()


def test_browser_page_subscribes_over_websocket():
    need("chromium", "openssl")
    if not os.path.exists(MQTTJS):
        print("SKIP: MQTT.js not installed: run tools/install-deps.sh")
        raise SystemExit(77)
    tmp = tempfile.mkdtemp(prefix="fh-browser-")
    make_pki(tmp)
    os.makedirs(os.path.join(tmp, "www"))
    shutil.copy(PAGE, os.path.join(tmp, "www", "index.html"))
    shutil.copy(MQTTJS, os.path.join(tmp, "www", "mqtt.min.js"))
    ports = {"ws": free_port(), "wss": free_port(), "http": free_port()}
    with Daemon(CONF, tmp=tmp, ports=ports) as d:
        wait_port(d.ports["ws"])
        wait_port(d.ports["wss"])
        browse(d, tmp, "ws://127.0.0.1:%d/mqtt" % d.ports["ws"], "ws")
        browse(d, tmp, "wss://127.0.0.1:%d/mqtt" % d.ports["wss"], "wss")
        check(d.alive(), "daemon died")


fhtest.run_cases(globals())
