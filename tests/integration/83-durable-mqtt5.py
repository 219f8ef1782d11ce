#!/usr/bin/python3
"""MQTT 5.0 persistence (state_dir), kill -9 between the runs: a 5.0
session with its Session Expiry Interval (resumed after the restart; one
with interval 0 is not kept; one that expired while the daemon was down is
gone), each queued or retained message's properties (user properties,
content type, response topic, correlation data, payload format) and its
Message Expiry Interval, which counts the time the daemon was down: a
message that expired meanwhile is dropped at restore (retained and queued
alike, counted, deleted from the file), one still valid is delivered with
the interval that remains.
"""
import os
import sqlite3
import time

from durabletest import CONF, PUBACK, SUBACK, bye, expect, stop
from fhtest import Daemon, check, run_cases
from mqtttest import (P_CONTENT_TYPE, P_CORRELATION_DATA, P_MESSAGE_EXPIRY,
                      P_PAYLOAD_FORMAT, P_RESPONSE_TOPIC, P_SESSION_EXPIRY,
                      P_SUBSCRIPTION_ID, P_USER, Raw, Raw5, ack5_pkt,
                      ack_pkt, connect_pkt, disconnect5_pkt,
                      connect5_pkt, parse_ack5, parse_publish5, prop,
                      prop_get,
                      publish5_pkt, publish_pkt, subscribe_pkt)


def db_path(d):
    return os.path.join(d.tmp, "state", "firehose.db")


def set_expiry(d, table, key_col, keys, when_us):
    db = sqlite3.connect(db_path(d))
    with db:
        for k in keys:
            db.execute("UPDATE %s SET expiry = ? WHERE %s = ?"
                       % (table, key_col), (when_us, k))
    db.close()


def test_expired_dropped_on_restore():
    with Daemon(CONF) as d:
        s = Raw(d.port, connect_pkt("sess", clean=False))
        s.send(subscribe_pkt(1, [("q/#", 1)]))
        expect(s, SUBACK, 1)
        bye(s)
        p = Raw(d.port, connect_pkt("pub", clean=True))
        for i, topic in enumerate(("q/old", "q/new", "q/end")):
            p.send(publish_pkt(topic, topic, 1, 10 + i))
            expect(p, PUBACK, 10 + i)
        for i, topic in enumerate(("r/old", "r/new")):
            p.send(publish_pkt(topic, topic, 1, 20 + i, retain=True))
            expect(p, PUBACK, 20 + i)
        bye(p)
        stop(d)

        now_us = int(time.time() * 1e6)
        set_expiry(d, "body", "topic", ["q/old"], now_us - 1000000)
        set_expiry(d, "body", "topic", ["q/new"], now_us + 3600 * 10**6)
        set_expiry(d, "retain", "topic", ["r/old"], now_us - 1)
        set_expiry(d, "retain", "topic", ["r/new"], now_us + 3600 * 10**6)

        d.start()
        check("dropped 2 stored messages that expired" in d.logtext(),
              "expired drop not logged:\n" + d.logtext())
        check("restored 1 sessions, 2 messages, 1 retained" in d.logtext(),
              "restore counts:\n" + d.logtext())
        s = Raw(d.port, connect_pkt("sess", clean=False))
        got = []
        while not got or got[-1] != "q/end":
            m = s.read_publish()
            check(m is not None, "queue ends early: %r" % got)
            got.append(m[0])
            s.send(ack_pkt("puback", m[3]))
        check(got == ["q/new", "q/end"], "delivered after restore: %r" % got)
        r = Raw(d.port, connect_pkt("late", clean=True))
        r.send(subscribe_pkt(1, [("r/#", 0)]))
        expect(r, SUBACK, 1)
        m = r.read_publish()
        check(m is not None and m[0] == "r/new", "retained: %r" % (m,))
        check(r.read(timeout=0.5) is None, "expired retained came back")
        bye(s, r)
        stop(d)
        db = sqlite3.connect(db_path(d))
        topics = [t for (t,) in db.execute(
            "SELECT topic FROM retain UNION ALL SELECT topic FROM body")]
        db.close()
        check("r/old" not in topics and "q/old" not in topics,
              "expired rows left in the file: %r" % topics)


# ---- 5.0 end to end ----

PROPS = [prop(P_PAYLOAD_FORMAT, 1), prop(P_CONTENT_TYPE, "text/plain"),
         prop(P_RESPONSE_TOPIC, "v5/reply"),
         prop(P_CORRELATION_DATA, "\x00\x01id"),
         prop(P_USER, ("k1", "v1")), prop(P_USER, ("k2", "v2"))]


def want_props(d, what):
    got = d["props"]
    check(prop_get(got, P_PAYLOAD_FORMAT) == 1, "%s: payload format: %r"
          % (what, got))
    check(prop_get(got, P_CONTENT_TYPE) == "text/plain",
          "%s: content type: %r" % (what, got))
    check(prop_get(got, P_RESPONSE_TOPIC) == "v5/reply",
          "%s: response topic: %r" % (what, got))
    check(prop_get(got, P_CORRELATION_DATA) == b"\x00\x01id",
          "%s: correlation data: %r" % (what, got))
    users = [v for k, v in got if k == P_USER]
    check(users == [("k1", "v1"), ("k2", "v2")], "%s: user properties "
          "(in order): %r" % (what, users))


def pub5(r, topic, payload, mid, props=(), retain=False):
    r.send(publish5_pkt(topic, payload, 1, mid, retain, props=b"".join(
        props)))
    t, got, reason, _ = parse_ack5(r.read())
    check(t == PUBACK and got == mid and reason in (0, 0x10),
          "PUBACK %d: type %d mid %d reason 0x%02x" % (mid, t, got, reason))


def sess5(d, cid, expiry, clean=False, present=None):
    """A 5.0 connection with that Session Expiry Interval, CONNACK 0."""
    r = Raw(d.port)
    r.send(connect5_pkt(cid, clean=clean,
                        props=prop(P_SESSION_EXPIRY, expiry)))
    p = r.read()
    check(p is not None and p[0] == 2 and p[2][1] == 0,
          "%s: CONNACK %r" % (cid, p))
    if present is not None:
        check(p[2][0] & 1 == (1 if present else 0),
              "%s: session present %d, want %r" % (cid, p[2][0] & 1,
                                                   present))
    r.subscribe = lambda mid, filters, props=b"": Raw5.subscribe(
        r, mid, filters, props)
    return r


def read5(r, n, what):
    """n PUBLISHes, each acknowledged."""
    out = []
    for _ in range(n):
        p = r.read()
        check(p is not None, "%s: %d of %d" % (what, len(out), n))
        d = parse_publish5(p)
        if d["qos"] == 1:
            r.send(ack5_pkt("puback", d["mid"]))
        out.append(d)
    return out


def test_v5_session_and_properties_survive_kill9():
    with Daemon(CONF) as d:
        s = sess5(d, "s5", 3600)
        s.subscribe(1, [("v5/#", 1)], props=prop(P_SUBSCRIPTION_ID, 42))
        s.send(disconnect5_pkt())
        s.close()
        p = Raw5(d.port, "pub5")
        pub5(p, "v5/a", "A", 1, PROPS + [prop(P_MESSAGE_EXPIRY, 3600)])
        pub5(p, "v5/b", "B", 2, PROPS)
        p.close()
        d.kill9()
        d.start()
        s = sess5(d, "s5", 3600, present=True)
        a, b = read5(s, 2, "s5 after kill -9")
        for m, topic in ((a, "v5/a"), (b, "v5/b")):
            check(m["topic"] == topic and m["payload"] == topic[-1:].upper()
                  .encode(), "s5: got %r, want %s" % (m, topic))
            want_props(m, topic)
            check(prop_get(m["props"], P_SUBSCRIPTION_ID) == 42,
                  "%s: subscription identifier: %r" % (topic, m["props"]))
        left = prop_get(a["props"], P_MESSAGE_EXPIRY)
        check(left is not None and 0 < left <= 3600,
              "v5/a: message expiry interval %r" % left)
        check(prop_get(b["props"], P_MESSAGE_EXPIRY) is None,
              "v5/b got an expiry: %r" % b["props"])
        s.send(disconnect5_pkt())
        s.close()


def test_v5_retained_properties_survive_kill9():
    with Daemon(CONF) as d:
        p = Raw5(d.port, "pub5")
        pub5(p, "v5r/a", "A", 1, PROPS + [prop(P_MESSAGE_EXPIRY, 3600)],
             retain=True)
        p.close()
        d.kill9()
        d.start()
        r = Raw5(d.port, "late5")
        r.subscribe(1, [("v5r/#", 0)])
        (m,) = read5(r, 1, "retained after kill -9")
        check(m["retain"] and m["topic"] == "v5r/a", "retained: %r" % m)
        want_props(m, "retained")
        left = prop_get(m["props"], P_MESSAGE_EXPIRY)
        check(left is not None and 0 < left <= 3600,
              "retained: message expiry interval %r" % left)
        r.close()


def test_v5_expiry_zero_session_not_kept():
    with Daemon(CONF) as d:
        s = sess5(d, "gone5", 0)
        s.subscribe(1, [("v5/#", 1)])
        s.send(disconnect5_pkt())
        s.close()
        keep = sess5(d, "kept5", 3600)
        keep.subscribe(1, [("sync/#", 1)])
        keep.send(disconnect5_pkt())
        keep.close()
        p = Raw5(d.port, "pub5")
        pub5(p, "sync/x", "x", 1)       # stored: commits what came before
        p.close()
        d.kill9()
        d.start()
        sess5(d, "gone5", 3600, present=False).close()
        sess5(d, "kept5", 3600, present=True).close()


def sync_store(d):
    """Commit what is staged: a stored (here retained) publish's PUBACK
    comes after the commit of its batch, which holds everything staged
    before it."""
    p = Raw5(d.port, "syncpub5")
    pub5(p, "sync/x", "x", 1, retain=True)
    p.close()


def test_v5_session_expired_while_down():
    with Daemon(CONF) as d:
        s = sess5(d, "short5", 1)
        s.subscribe(1, [("v5/#", 1)])
        s.send(disconnect5_pkt())
        s.close()
        s = sess5(d, "long5", 3600)
        s.send(disconnect5_pkt())
        s.close()
        sync_store(d)
        d.kill9()
        time.sleep(1.5)     # its one second runs out while down
        d.start()
        check("dropped 1 stored sessions that expired" in d.logtext(),
              "expired session not dropped:\n" + d.logtext())
        sess5(d, "short5", 60, present=False).close()
        sess5(d, "long5", 3600, present=True).close()


def test_v5_keeps_its_expiry_311_takes_the_config():
    with Daemon(CONF) as d:
        s = sess5(d, "own5", 3600)
        s.subscribe(1, [("v5/#", 1)])
        s.send(disconnect5_pkt())
        s.close()
        s = Raw(d.port, connect_pkt("old311", clean=False))
        s.send(subscribe_pkt(1, [("v5/#", 1)]))
        expect(s, SUBACK, 1)
        bye(s)
        sync_store(d)
        stop(d)
        # [broker] session_expiry lowered while it was down
        with open(d.conf) as f:
            conf = f.read()
        with open(d.conf, "w") as f:
            f.write(conf.replace("sys_interval = 0",
                                 "sys_interval = 0\nsession_expiry = 1s"))
        time.sleep(1.5)
        d.start()
        s = Raw(d.port, connect_pkt("old311", clean=False))
        check(s.connack[0] & 1 == 0, "3.1.1 session kept past the new "
              "session_expiry")
        bye(s)
        sess5(d, "own5", 3600, present=True).close()


WILL_DELAY = 0x18
CONF_DEBUG = CONF.replace("[gateway]\n", "[gateway]\nlog_level = debug\n")


def watcher(d, present=None):
    """A persistent 5.0 session subscribed to will/#."""
    w = sess5(d, "watch5", 3600, present=present)
    return w


def lose_with_will(d, cid, delay):
    """A 5.0 client whose connection drops (no DISCONNECT), leaving a
    will with that delay; returns once the broker holds it, committed."""
    r = Raw(d.port)
    r.send(connect5_pkt(cid, clean=False, props=prop(P_SESSION_EXPIRY, 3600),
                        will=("will/" + cid, "gone", 1, False),
                        will_props=prop(WILL_DELAY, delay) +
                        prop(P_CONTENT_TYPE, "text/plain") +
                        prop(P_USER, ("why", "lost"))))
    p = r.read()
    check(p is not None and p[0] == 2 and p[2][1] == 0, "%s: %r" % (cid, p))
    r.close()
    d.wait_log("mqtt %s: will to 'will/%s' in" % (cid, cid))
    sync_store(d)


def test_v5_delayed_will_survives_kill9():
    with Daemon(CONF_DEBUG) as d:
        w = watcher(d)
        w.subscribe(1, [("will/#", 1)])
        w.send(disconnect5_pkt())
        w.close()
        lose_with_will(d, "w5", 4)
        d.kill9()
        d.start()
        w = watcher(d, present=True)
        p = w.read(timeout=15)
        check(p is not None, "the delayed will never came after kill -9")
        m = parse_publish5(p)
        check(m["topic"] == "will/w5" and m["payload"] == b"gone",
              "will: %r" % m)
        check(prop_get(m["props"], P_CONTENT_TYPE) == "text/plain" and
              (P_USER, ("why", "lost")) in m["props"],
              "will properties: %r" % m["props"])
        w.send(ack5_pkt("puback", m["mid"]))
        w.send(disconnect5_pkt())
        w.close()


def test_v5_delayed_will_due_while_down_goes_at_restore():
    with Daemon(CONF_DEBUG) as d:
        w = watcher(d)
        w.subscribe(1, [("will/#", 1)])
        w.send(disconnect5_pkt())
        w.close()
        lose_with_will(d, "w5due", 1)
        d.kill9()
        time.sleep(1.5)
        d.start()
        w = watcher(d, present=True)
        (m,) = read5(w, 1, "will due while down")
        check(m["topic"] == "will/w5due", "will: %r" % m)
        w.close()


def test_v5_delayed_will_cancelled_by_reconnect_after_restart():
    with Daemon(CONF_DEBUG) as d:
        lose_with_will(d, "w5back", 600)
        d.kill9()
        d.start()
        r = sess5(d, "w5back", 3600, present=True)     # cancels it
        r.send(disconnect5_pkt())
        r.close()
        sync_store(d)
        stop(d)
        db = sqlite3.connect(db_path(d))
        n = db.execute("SELECT count(*) FROM will").fetchone()[0]
        db.close()
        check(n == 0, "cancelled will still stored (%d rows)" % n)


def test_v5_message_expired_while_down():
    with Daemon(CONF) as d:
        s = sess5(d, "exp5", 3600)
        s.subscribe(1, [("v5e/#", 1)])
        s.send(disconnect5_pkt())
        s.close()
        p = Raw5(d.port, "pub5")
        pub5(p, "v5e/short", "S", 1, [prop(P_MESSAGE_EXPIRY, 1)])
        pub5(p, "v5e/long", "L", 2, [prop(P_MESSAGE_EXPIRY, 3600)])
        pub5(p, "v5r/short", "R", 3, [prop(P_MESSAGE_EXPIRY, 1)],
             retain=True)
        p.close()
        d.kill9()
        time.sleep(2.2)     # the one-second messages expire while down
        d.start()
        check("dropped 2 stored messages that expired" in d.logtext(),
              "expired drop not logged:\n" + d.logtext())
        s = sess5(d, "exp5", 3600, present=True)
        (m,) = read5(s, 1, "exp5")
        check(m["topic"] == "v5e/long", "exp5 got %r" % m)
        r = Raw5(d.port, "late5")
        r.subscribe(1, [("v5r/#", 0)])
        check(r.read(timeout=0.5) is None, "expired retained delivered")
        s.close()
        r.close()


run_cases(globals())
