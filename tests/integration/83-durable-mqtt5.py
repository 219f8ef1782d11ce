#!/usr/bin/python3
"""MQTT 5.0 persistence (state_dir): a stored message's expiry is absolute,
so one that expired while the daemon was down is dropped at restore
(retained and queued alike, counted, deleted from the file) while one
still valid is delivered.
"""
import os
import signal
import sqlite3
import time

from fhtest import Daemon, check, run_cases
from mqtttest import (Raw, ack_pkt, connect_pkt, packet, publish_pkt,
                      subscribe_pkt)

CONF = """[gateway]
state_dir = {tmp}/state
[broker]
anonymous_publish = true
sys_interval = 0
[listener mqtt]
bind = 127.0.0.1:{port}
"""
PUBACK, SUBACK = 4, 9
DISCONNECT = packet(0xe0)


def expect(r, kind, mid):
    p = r.read()
    check(p is not None and p[0] == kind and
          int.from_bytes(p[2][:2], "big") == mid,
          "want type %d mid %d, got %r" % (kind, mid, p))


def bye(*rs):
    for r in rs:
        r.send(DISCONNECT)
        r.close()


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
        check(d.stop() == 0, "SIGTERM: bad exit")

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
        check(d.stop(signal.SIGTERM) == 0, "SIGTERM: bad exit")
        db = sqlite3.connect(db_path(d))
        topics = [t for (t,) in db.execute(
            "SELECT topic FROM retain UNION ALL SELECT topic FROM body")]
        db.close()
        check("r/old" not in topics and "q/old" not in topics,
              "expired rows left in the file: %r" % topics)


run_cases(globals())
