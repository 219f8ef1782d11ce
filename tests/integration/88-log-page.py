#!/usr/bin/python3
"""The live page (GET / on ws/wss listeners) in headless Chromium, driven
over the DevTools protocol (tests/integration/cdp.py): it loads under its
Content-Security-Policy with no console error, shows events from a source
(ansible over HTTP) and from an authenticated MQTT publisher with
per-source colours and counts, filters by topic, holds events while
paused, pretty-prints an event's JSON on click, clears, and merges the
last hour from GET /v1/events; Chromium revalidates its cached files
(304); the page works over wss, keeps 1000 rows under a burst, comes back
after a daemon restart, and says so when anonymous clients are refused.
Screenshots go to a temp dir whose path is printed.
"""
import http.client
import json
import os
import queue
import re
import subprocess
import tempfile
import time
from contextlib import contextmanager

from cdp import Chromium
from fhtest import (Daemon, check, free_port, need, run_cases, skip_case,
                    wait_port)
import paho.mqtt.client as mqtt
from transport import make_pki
import fhansible as fa

SHOTS = tempfile.mkdtemp(prefix="fh-page-shots-")
USER, PASSWORD = "publisher", "pub-secret"

CONF = """[broker]
sys_interval = 0
password_file = {tmp}/passwd
[listener tcp]
bind = 127.0.0.1:{port}
[listener web]
protocol = ws
bind = 127.0.0.1:{ws}
path = /mqtt
[source ansible]
type = ansible
listen = 127.0.0.1:{http}
"""

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
       "img-src 'self'; connect-src 'self'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")

START = {"ansible_type": "start", "host": "ctl", "session": "s-1",
         "playbook_name": "site", "playbook_id": "p-1"}

GERRIT = {"type": "comment-added", "change": {"project": "openstack/nova",
          "number": 4711, "subject": "Fix the frobnicator"},
          "author": {"name": "Jane Doe"}, "approvals": [
              {"type": "Verified", "value": "1"}], "eventCreatedOn": 1}


def passwd(path):
    r = subprocess.run(["mosquitto_passwd", "-c", "-b", path, USER,
                        PASSWORD], capture_output=True, text=True)
    check(r.returncode == 0, "mosquitto_passwd: " + r.stderr)


def get(port, path, headers=None, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


@contextmanager
def daemon(extra="", conf=CONF):
    need("chromium", "mosquitto_passwd")
    ports = fa.ports(ws=free_port())
    d = Daemon(conf + extra, ports=ports, wait=None)
    passwd(os.path.join(d.tmp, "passwd"))
    with d:
        d.start()
        wait_port(ports["ws"])
        fa.wait_http(ports["http"])
        yield d
        check(d.alive(), "daemon died")


@contextmanager
def browser(d, query="", allowed=None):
    """Chromium on the page, connected to the broker. At the end, no
    browser error but those matching the regex allowed."""
    with Chromium(d.tmp) as b:
        p = b.page()
        p.navigate("http://127.0.0.1:%d/%s" % (d.ports["ws"], query))
        p.wait_js("document.getElementById('conn').dataset.state"
                  " === 'connected'", what="the page's MQTT connection")
        # CONNACK, then SUBACK: the subscription is in place.
        p.wait_js("document.getElementById('conn').textContent"
                  ".startsWith('connected: ')", what="SUBACK")
        yield p
        errs = [e for e in p.errors()
                if allowed is None or not re.search(allowed, e)]
        check(not errs, "browser errors: %r" % errs)


def shot(p, name):
    path = p.screenshot(os.path.join(SHOTS, name + ".png"))
    print("screenshot: " + path)
    return path


class Publisher:
    """An authenticated paho publisher (anonymous ones may not publish)."""

    def __init__(self, port):
        self.c = mqtt.Client(client_id="page-pub")
        self.c.username_pw_set(USER, PASSWORD)
        self.connacks = queue.Queue()
        self.c.on_connect = lambda c, u, f, rc: self.connacks.put(rc)
        self.c.connect("127.0.0.1", port, 60)
        self.c.loop_start()
        try:
            rc = self.connacks.get(timeout=10)
        except queue.Empty:
            self.c.loop_stop()
            raise AssertionError("publisher: no CONNACK")
        check(rc == 0, "publisher: CONNACK %d" % rc)

    def pub(self, topic, payload, qos=1):
        info = self.c.publish(topic, payload, qos)
        info.wait_for_publish(10)
        check(info.is_published(), "not acknowledged: " + topic)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def publisher(d):
    return Publisher(d.port)


def rows(p, visible=True):
    """[(topic, source, payload preview)] of the rows shown, newest
    first."""
    return p.js("Array.from(document.querySelectorAll('#rows tr.ev'))"
                ".filter(r => %s).map(r => [r.dataset.topic,"
                " r.dataset.source, r.querySelector('.payload')"
                ".textContent])" % ("!r.hidden" if visible else "true"))


def counts(p):
    return p.js("Object.fromEntries(Array.from(document.querySelectorAll("
                "'#counts .count')).map(c => [c.dataset.source,"
                " +c.querySelector('b').textContent]))")


def wait_rows(p, n, what):
    p.wait_js("document.querySelectorAll('#rows tr.ev:not([hidden])')"
              ".length >= %d" % n, what=what)
    return rows(p)


def post_ansible(d, body):
    c = fa.connect(d.ports["http"])
    st, _, text = fa.request(c, body=body)
    c.close()
    check(st == 202, "ansible POST: %d %s" % (st, text))


def test_page_served():
    """GET / and /static/*: types, ETag and 304, caching, the CSP; 404 for
    what is not there."""
    with daemon() as d:
        port = d.ports["ws"]
        st, h, body = get(port, "/")
        check(st == 200, "GET /: %d" % st)
        check(h["content-type"] == "text/html; charset=utf-8", h)
        check(h["content-security-policy"] == CSP, h)
        check(h["x-content-type-options"] == "nosniff", h)
        check(h["cache-control"] == "no-cache", h)
        check(re.fullmatch(r'"[0-9a-f]{16}"', h["etag"]), h)
        check(int(h["content-length"]) == len(body), h)
        check(b"<title>firehose" in body, body[:200])
        for path in re.findall(rb'(?:src|href)="([^"]+)"', body):
            st2, h2, b2 = get(port, "/" + path.decode())
            check(st2 == 200, "%s: %d" % (path, st2))
            check(h2["content-security-policy"] == CSP, h2)
            ext = path.rsplit(b".", 1)[1]
            want = {b"js": "text/javascript; charset=utf-8",
                    b"css": "text/css; charset=utf-8",
                    b"svg": "image/svg+xml"}[ext]
            check(h2["content-type"] == want, (path, h2))
        st, h2, b2 = get(port, "/", {"If-None-Match": h["etag"]})
        check(st == 304 and b2 == b"", "If-None-Match: %d %r" % (st, b2))
        check(h2["etag"] == h["etag"], h2)
        check(h2["cache-control"] == "no-cache", h2)
        check("content-length" not in h2, h2)
        st, h2, b2 = get(port, "/", method="HEAD")
        check(st == 200 and b2 == b"", "HEAD: %d %r" % (st, b2))
        check(h2["content-length"] == h["content-length"], h2)
        check(h2["content-security-policy"] == CSP, h2)
        st, h2, _ = get(port, "/", method="POST")
        check(st == 405, "POST /: %d" % st)
        st, _, _ = get(port, "/", {"If-None-Match": '"0000000000000000"'})
        check(st == 200, "stale ETag: %d" % st)
        for path in ("/static/nope.js", "/static/", "/static/../index.html",
                     "/index.html", "/static/index.html"):
            st, _, _ = get(port, path)
            check(st == 404, "%s: %d" % (path, st))
        st, _, _ = get(port, "/healthz")
        check(st == 200, "/healthz beside the page: %d" % st)


def test_page_loads_in_chromium():
    """The page loads with its CSP and no console error, and connects over
    MQTT-over-WebSocket to the broker beside it."""
    with daemon() as d, browser(d) as p:
        url = "http://127.0.0.1:%d/" % d.ports["ws"]
        r = p.responses.get(url)
        check(r is not None and r["status"] == 200, r)
        hdr = {k.lower(): v for k, v in r["headers"].items()}
        check(hdr["content-security-policy"] == CSP, hdr)
        check(p.js("document.title") == "firehose: live events",
              p.js("document.title"))
        check(p.js("getComputedStyle(document.querySelector('header'))"
                   ".display") == "flex", "style.css not applied")
        check(counts(p) == {"gerrit": 0, "launchpad": 0, "ansible": 0,
                            "gearman-subunit": 0, "other": 0}, counts(p))
        check(rows(p) == [], rows(p))
        # The broker sees the page as one client on the ws listener.
        st, _, body = get(d.ports["ws"], "/healthz")
        check(st == 200, body)
        shot(p, "01-loaded")


def test_browser_revalidates():
    """Chromium keeps the files and revalidates them on reload: 304s, and
    the page still runs."""
    with daemon() as d, browser(d) as p:
        base = "http://127.0.0.1:%d/" % d.ports["ws"]
        p.forget_requests()
        n = len(p.events)
        p.call("Page.reload")
        p.wait_event("Page.loadEventFired", start=n)
        p.wait_js("document.getElementById('conn').textContent"
                  ".startsWith('connected: ')", what="connected again")
        files = [base + f for f in ("", "static/app.js", "static/mqtt.js",
                                    "static/style.css")]
        deadline = time.time() + 10
        while not all(u in p.wire_status() for u in files):
            check(time.time() < deadline, "not reloaded: %r"
                  % p.wire_status())
            p.pump(0.1)
        check(all(p.wire_status()[u] == 304 for u in files),
              p.wire_status())


def test_events_from_source_and_publisher():
    """An ansible event (POST to the source) and events of an
    authenticated MQTT publisher appear, newest first, coloured and
    counted by source."""
    with daemon() as d, browser(d) as p:
        post_ansible(d, START)
        got = wait_rows(p, 1, "the ansible event")
        check(got[0][0] == "ansible/playbook/p-1/action/start", got)
        check(got[0][1] == "ansible", got)
        check(json.loads(got[0][2])["playbook_name"] == "site", got)
        pub = publisher(d)
        try:
            pub.pub("gerrit/openstack/nova/comment-added",
                    json.dumps(GERRIT), qos=1)
            pub.pub("launchpad/nova", json.dumps({"title": "Bug #1"}), qos=1)
            pub.pub("gearman-subunit/worker1/openstack/nova/4711",
                    json.dumps({"status": "success"}), qos=1)
            pub.pub("bots/ircbot/said", "plain text, not JSON", qos=1)
        finally:
            pub.close()
        got = wait_rows(p, 5, "the publisher's events")
        check([r[0] for r in got] == [
            "bots/ircbot/said",
            "gearman-subunit/worker1/openstack/nova/4711",
            "launchpad/nova", "gerrit/openstack/nova/comment-added",
            "ansible/playbook/p-1/action/start"], got)
        check([r[1] for r in got] == ["other", "gearman-subunit",
                                      "launchpad", "gerrit", "ansible"], got)
        check(got[0][2] == "plain text, not JSON", got[0])
        check(counts(p) == {"gerrit": 1, "launchpad": 1, "ansible": 1,
                            "gearman-subunit": 1, "other": 1}, counts(p))
        # Each source has its own colour, on its count and its rows.
        colours = p.js("['gerrit', 'launchpad', 'ansible',"
                       " 'gearman-subunit', 'other'].map(s => "
                       "getComputedStyle(document.querySelector("
                       "'#counts .src-' + s)).backgroundColor)")
        check(len(set(colours)) == 5, colours)
        row = p.js("getComputedStyle(document.querySelector("
                   "'#rows tr.src-gerrit td.topic')).color")
        check(row == colours[0], (row, colours))
        shot(p, "02-sources")


def test_filter():
    """The filter box re-subscribes: rows that do not match are hidden,
    new events that do not match never show; a bad filter is refused."""
    with daemon() as d, browser(d) as p:
        pub = publisher(d)
        try:
            pub.pub("gerrit/openstack/nova/change-merged", "{}", qos=1)
            pub.pub("launchpad/nova", "{}", qos=1)
            wait_rows(p, 2, "two events")
            p.type_into("#filter", "gerrit/#")
            p.wait_js("document.getElementById('conn').textContent === "
                      "'connected: gerrit/#'", what="SUBACK for gerrit/#")
            check([r[0] for r in rows(p)] ==
                  ["gerrit/openstack/nova/change-merged"], rows(p))
            check("filter=gerrit%2F%23" in p.js("location.search"),
                  p.js("location.search"))
            pub.pub("launchpad/neutron", "{}", qos=1)
            pub.pub("gerrit/openstack/neutron/patchset-created", "{}", qos=1)
            got = wait_rows(p, 2, "the gerrit event after the filter")
            check([r[0] for r in got] == [
                "gerrit/openstack/neutron/patchset-created",
                "gerrit/openstack/nova/change-merged"], got)
            # The launchpad event published in between never arrived.
            check(len(rows(p, visible=False)) == 3, rows(p, visible=False))
            shot(p, "03-filter")
            p.type_into("#filter", "gerrit/#/x")
            check(p.js("document.getElementById('filter').validity.valid")
                  is False, "bad filter accepted")
            check("filter=gerrit%2F%23" in p.js("location.search"),
                  "the bad filter replaced the good one")
            p.type_into("#filter", "+/nova/#")
            p.wait_js("document.getElementById('conn').textContent === "
                      "'connected: +/nova/#'", what="SUBACK for +/nova/#")
            # +/nova/# matches launchpad/nova, not gerrit/openstack/...
            check([r[0] for r in rows(p)] == ["launchpad/nova"], rows(p))
        finally:
            pub.close()


def test_pause():
    """Pause stops updates: events are held (and said so), not shown;
    Resume shows them in order."""
    with daemon() as d, browser(d) as p:
        pub = publisher(d)
        try:
            pub.pub("gerrit/a/b", '{"n": 0}', qos=1)
            wait_rows(p, 1, "the first event")
            p.click("#pause")
            check(p.js("document.getElementById('pause').textContent")
                  == "Resume", "no Resume button")
            for i in range(1, 4):
                pub.pub("gerrit/a/b", '{"n": %d}' % i, qos=1)
            p.wait_js("document.getElementById('notice').textContent"
                      " === 'paused: 3 held'", what="3 held")
            check(len(rows(p)) == 1, rows(p))
            check(counts(p)["gerrit"] == 1, counts(p))
            shot(p, "04-paused")
            p.click("#pause")
            got = wait_rows(p, 4, "the held events after Resume")
            check([json.loads(r[2])["n"] for r in got] == [3, 2, 1, 0], got)
            check(counts(p)["gerrit"] == 4, counts(p))
        finally:
            pub.close()


def test_click_shows_pretty_json():
    """A click on a row shows its topic, source and JSON, pretty-printed;
    Escape closes it."""
    with daemon() as d, browser(d) as p:
        pub = publisher(d)
        try:
            pub.pub("gerrit/openstack/nova/comment-added",
                    json.dumps(GERRIT), qos=1)
            pub.pub("bots/x", b"\xff\xfe binary", qos=1)
        finally:
            pub.close()
        wait_rows(p, 2, "two events")
        check(p.js("document.getElementById('detail-pane').hidden"),
              "detail shown before a click")
        p.click("#rows tr.src-gerrit td.payload")
        p.wait_js("!document.getElementById('detail-pane').hidden")
        text = p.js("document.getElementById('detail').textContent")
        check(text == json.dumps(GERRIT, indent=2), text)
        check(p.js("document.getElementById('detail-topic').textContent")
              == "gerrit/openstack/nova/comment-added", "detail topic")
        meta = p.js("document.getElementById('detail-meta').textContent")
        check("sourcegerrit" in meta and "vialive" in meta, meta)
        check(p.js("document.querySelector('#rows tr.selected')"
                   ".dataset.topic") == "gerrit/openstack/nova/"
              "comment-added", "selected row")
        shot(p, "05-detail")
        p.click("#rows tr.src-other td.payload")
        text = p.wait_js("document.getElementById('detail').textContent")
        check(text.startswith("ff fe 20 62"), text)
        p.call("Input.dispatchKeyEvent", type="keyDown", key="Escape",
               code="Escape", windowsVirtualKeyCode=27)
        p.wait_js("document.getElementById('detail-pane').hidden",
                  what="Escape closes the detail")


def test_clear():
    """Clear empties the list, the counts and the detail; events keep
    coming."""
    with daemon() as d, browser(d) as p:
        pub = publisher(d)
        try:
            pub.pub("gerrit/a/b", "{}", qos=1)
            pub.pub("launchpad/c", "{}", qos=1)
            wait_rows(p, 2, "two events")
            p.click("#rows tr.src-gerrit td.payload")
            p.wait_js("!document.getElementById('detail-pane').hidden")
            p.click("#clear")
            check(rows(p, visible=False) == [], rows(p, visible=False))
            check(set(counts(p).values()) == {0}, counts(p))
            check(p.js("document.getElementById('detail-pane').hidden"),
                  "detail still open")
            pub.pub("ansible/x", "{}", qos=1)
            got = wait_rows(p, 1, "an event after Clear")
            check([r[0] for r in got] == ["ansible/x"], got)
            check(counts(p)["ansible"] == 1, counts(p))
        finally:
            pub.close()


def test_anonymous_refused():
    """With allow_anonymous = false the page says the broker refused it
    and stops (no retry)."""
    conf = CONF.replace("[broker]\n", "[broker]\nallow_anonymous = false\n")
    with daemon(conf=conf) as d, Chromium(d.tmp) as b:
        p = b.page()
        p.navigate("http://127.0.0.1:%d/" % d.ports["ws"])
        text = p.wait_js("document.getElementById('conn').dataset.state"
                         " === 'stopped' && document.getElementById("
                         "'conn').textContent", what="refused")
        check(text == "stopped: refused: not authorized", text)
        check(not p.errors(), p.errors())


def test_page_over_wss():
    """On a wss listener the page connects back over wss."""
    need("openssl")
    extra = """[listener secure]
protocol = wss
bind = 127.0.0.1:{wss}
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
path = /mqtt
"""
    need("chromium", "mosquitto_passwd")
    ports = fa.ports(ws=free_port(), wss=free_port())
    d = Daemon(CONF + extra, ports=ports, wait=None)
    make_pki(d.tmp)
    passwd(os.path.join(d.tmp, "passwd"))
    with d:
        d.start()
        wait_port(ports["wss"])
        with Chromium(d.tmp, extra=["--ignore-certificate-errors"]) as b:
            p = b.page()
            p.navigate("https://127.0.0.1:%d/" % ports["wss"])
            p.wait_js("document.getElementById('conn').textContent"
                      ".startsWith('connected: ')", what="wss connection")
            pub = publisher(d)
            try:
                pub.pub("launchpad/secure", '{"tls": true}', qos=1)
            finally:
                pub.close()
            got = wait_rows(p, 1, "the event over wss")
            check(got[0][0] == "launchpad/secure", got)
            check(not p.errors(), p.errors())


def test_burst_bounded():
    """A burst of 3000 events and a 512 KiB one: every one is counted, the
    page keeps the newest 1000 rows, the big one's preview is short."""
    with daemon() as d, browser(d) as p:
        pub = publisher(d)
        try:
            big = json.dumps({"blob": "y" * (512 * 1024)})
            pub.pub("bots/big", big, qos=1)
            for i in range(3000):
                pub.c.publish("gerrit/burst/%d" % i, '{"i": %d}' % i, 0)
            pub.pub("launchpad/last", "{}", qos=1)  # after all the rest
        finally:
            pub.close()
        p.wait_js("+document.querySelector('#counts .src-launchpad b')"
                  ".textContent === 1", timeout=60, what="the last event")
        c = counts(p)
        check(c["gerrit"] == 3000 and c["other"] == 1, c)
        got = rows(p)
        check(len(got) == 1000, len(got))
        check(got[0][0] == "launchpad/last", got[0])
        check(got[1][0] == "gerrit/burst/2999", got[1])
        check(got[-1][0] == "gerrit/burst/2001", got[-1])
        # The big one fell off the end; in the detail it would be whole.
        check(all(len(r[2]) <= 161 for r in got), "long preview")


def test_reconnects():
    """The daemon restarts: the page says it is disconnected, comes back
    by itself and receives again."""
    refused = r"WebSocket connection to .* failed"
    # the daemon is stopped on purpose: a resource the page was still
    # fetching (its favicon) fails too, which is no error of the page's
    down = refused + r"|net::ERR_(SOCKET_NOT_CONNECTED|CONNECTION_REFUSED" \
        r"|CONNECTION_RESET|EMPTY_RESPONSE)"
    with daemon() as d, browser(d, allowed=down) as p:
        check(d.stop() == 0, "daemon exit status")
        p.wait_js("document.getElementById('conn').dataset.state"
                  " === 'disconnected'", what="disconnected")
        # Start again only once a retry has failed against no daemon.
        deadline = time.time() + 30
        while not any(re.search(refused, e) for e in p.errors()):
            check(time.time() < deadline, "no failed retry")
            p.pump(0.2)
        d.start()
        p.wait_js("document.getElementById('conn').textContent"
                  ".startsWith('connected: ')", timeout=40,
                  what="reconnected")
        pub = publisher(d)
        try:
            pub.pub("gearman-subunit/w/again", '{"back": true}', qos=1)
        finally:
            pub.close()
        got = wait_rows(p, 1, "an event after the restart")
        check(got[0][0] == "gearman-subunit/w/again", got)


LOG = """[gateway]
state_dir = {tmp}/state
"""


def logged(d, n, query="since=1h"):
    """GET /v1/events until it holds n events (the log writes in
    batches); the list."""
    deadline = time.time() + 20
    while True:
        st, h, body = get(d.ports["ws"], "/v1/events?" + query)
        if st == 404:
            skip_case("GET /v1/events is not in this build")
        check(st == 200, "/v1/events: %d %r" % (st, body[:200]))
        got = json.loads(body)
        if len(got) >= n:
            return got
        check(time.time() < deadline, "%d of %d logged" % (len(got), n))
        time.sleep(0.1)


def history(p):
    p.click("#history")
    p.wait_js("['loaded', 'failed'].includes(document.body.dataset"
              ".history)", what="the last hour")
    return p.js("document.getElementById('notice').textContent")


def test_load_last_hour():
    """"Load the last hour" asks GET /v1/events and merges what the log
    holds: events from before the page opened appear, tagged, in time
    order; one that also came live is not shown twice; a logged event's
    detail has its seq."""
    with daemon(LOG) as d:
        post_ansible(d, START)
        pub = publisher(d)
        try:
            pub.pub("gerrit/openstack/nova/comment-added",
                    json.dumps(GERRIT), qos=1)
            pub.pub("launchpad/nova", json.dumps({"title": "Bug #1"}), qos=1)
            pub.pub("bots/bin", b"\x00\xffbinary", qos=1)
            before = logged(d, 4)
            with browser(d) as p:
                check(rows(p) == [], rows(p))
                pub.pub("gerrit/openstack/nova/change-merged",
                        '{"live": true}', qos=1)
                wait_rows(p, 1, "the live event")
                logged(d, 5)
                note = history(p)
                check(note == "last hour: 5 logged, 4 added, 1 already "
                      "shown", note)
                got = rows(p)
                check([r[0] for r in got] == [
                    "gerrit/openstack/nova/change-merged",
                    "bots/bin", "launchpad/nova",
                    "gerrit/openstack/nova/comment-added",
                    "ansible/playbook/p-1/action/start"], got)
                check(counts(p) == {"gerrit": 2, "launchpad": 1,
                                    "ansible": 1, "gearman-subunit": 0,
                                    "other": 1}, counts(p))
                tags = p.js("Array.from(document.querySelectorAll("
                            "'#rows tr.ev')).map(r => (r.querySelector("
                            "'.tag') || {}).textContent || '')")
                check(tags == ["", "log", "log", "log", "log"], tags)
                p.click("#rows tr.src-gerrit:nth-child(4) td.payload")
                text = p.wait_js("document.getElementById('detail')"
                                 ".textContent")
                check(json.loads(text) == GERRIT, text)
                meta = p.js("document.getElementById('detail-meta')"
                            ".textContent")
                seq = [e["seq"] for e in before
                       if e["topic"].endswith("comment-added")][0]
                check("seq%d" % seq in meta and "viaevent log" in meta,
                      meta)
                shot(p, "06-last-hour")
                # A second load adds nothing: every seq is known now.
                note = history(p)
                check(note == "last hour: 5 logged, 0 added, 0 already "
                      "shown", note)
                check(len(rows(p)) == 5, rows(p))
        finally:
            pub.close()


def test_load_last_hour_filtered():
    """The topic filter goes to /v1/events: only matching events come
    back."""
    with daemon(LOG) as d:
        pub = publisher(d)
        try:
            for t in ("gerrit/a/x", "launchpad/b", "gerrit/c/y"):
                pub.pub(t, "{}", qos=1)
            logged(d, 3)
            with browser(d, query="?filter=gerrit/%23") as p:
                check(p.js("document.getElementById('filter').value")
                      == "gerrit/#", "filter from the URL")
                note = history(p)
                check(note.startswith("last hour: 2 logged, 2 added"), note)
                check([r[0] for r in rows(p)] == ["gerrit/c/y",
                                                  "gerrit/a/x"], rows(p))
        finally:
            pub.close()


def test_last_hour_without_log():
    """The event log off ([log] enabled = false): the button says what
    the daemon answered, nothing breaks."""
    failed = r"status of (404|503)"
    with daemon("[log]\nenabled = false\n") as d, \
            browser(d, allowed=failed) as p:
        note = history(p)
        check(re.match(r"event log: HTTP (404|503)", note), note)
        check(p.js("document.getElementById('history').disabled") is False,
              "button left disabled")


print("screenshots in " + SHOTS)
run_cases(globals())
