#!/usr/bin/python3
"""A state file written by the first release (core schema 1, made by
tests/data/state/make-v1.py with that release's firehosed) opens in this
one and keeps what it held: retained messages, an offline persistent
session with its subscriptions and queued QoS 1/2 messages, a session with
messages in flight (resent with DUP and the same packet ids), and the QoS 2
receive state of a publisher. The file is upgraded in place: a newer core
version, and the modules' versions recorded.
"""
import json
import os
import shutil
import sqlite3

from fhtest import SRCDIR, Daemon, check, run_cases
from mqtttest import (Raw, ack_pkt, connect_pkt, packet, publish_pkt,
                      subscribe_pkt)

DATA = os.path.join(SRCDIR, "tests", "data", "state")
with open(os.path.join(DATA, "v1-release.json")) as f:
    MIDS = json.load(f)["inflight_mids"]

# session_expiry = 0: the fixture's sessions went offline when it was
# made; they must not expire because the test runs later.
CONF = """[gateway]
state_dir = {tmp}/state
[broker]
anonymous_publish = true
sys_interval = 0
session_expiry = 0
[listener mqtt]
bind = 127.0.0.1:{port}
"""
PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK = 4, 5, 6, 7, 9
DISCONNECT = packet(0xe0)


def daemon():
    """A daemon started on a copy of the fixture."""
    d = Daemon(CONF, wait=None)
    os.makedirs(os.path.join(d.tmp, "state"), mode=0o700)
    shutil.copyfile(os.path.join(DATA, "v1-release.db"),
                    os.path.join(d.tmp, "state", "firehose.db"))
    d.start()
    return d


def expect(r, kind, mid):
    p = r.read()
    check(p is not None and p[0] == kind and
          int.from_bytes(p[2][:2], "big") == mid,
          "want type %d mid %d, got %r" % (kind, mid, p))


def test_restored_and_not_moved():
    with daemon() as d:
        log = d.logtext()
        check("corrupt" not in log, "v1 file treated as corrupt:\n" + log)
        check("restored 3 sessions, 7 messages, 3 retained" in log,
              "restore counts:\n" + log)


def test_retained():
    with daemon() as d:
        r = Raw(d.port, connect_pkt("late", clean=True))
        r.send(subscribe_pkt(1, [("#", 0)]))
        expect(r, SUBACK, 1)
        got = {}
        for _ in range(3):
            m = r.read_publish()
            check(m is not None, "retained lost, got %r" % got)
            check(m[4], "%s: retain flag not set" % m[0])
            got[m[0]] = m[1]
        check(got == {"r/a": b"A", "r/b": b"B", "sync/infl": b"x"},
              "retained: %r" % got)
        check(r.read(timeout=0.5) is None, "cleared r/c came back")
        r.send(DISCONNECT)
        r.close()


def test_offline_session():
    with daemon() as d:
        s = Raw(d.port, connect_pkt("sess", clean=False))
        check(s.connack[0] & 1 == 1, "sess: session present not set")
        want = [("q/1", b"m1", 1), ("q/2", b"m2", 1), ("q/3", b"m3", 1),
                ("q2/1", b"two", 2), ("q2/2", b"once", 2)]
        got = []
        for topic, payload, qos in want:
            m = s.read_publish()
            check(m is not None and (m[0], m[1], m[2]) ==
                  (topic, payload, qos), "sess: got %r, want %s"
                  % (m, topic))
            got.append(m)
        for m in got:
            s.send(ack_pkt("puback" if m[2] == 1 else "pubrec", m[3]))
        for m in got[3:]:
            expect(s, PUBREL, m[3])
            s.send(ack_pkt("pubcomp", m[3]))
        # its subscriptions still route new messages
        p = Raw(d.port, connect_pkt("pub", clean=True))
        p.send(publish_pkt("q/4", "m4", 1, 1))
        expect(p, PUBACK, 1)
        m = s.read_publish()
        check(m is not None and m[:2] == ("q/4", b"m4"), "new: %r" % (m,))
        s.send(ack_pkt("puback", m[3]))
        for c in (s, p):
            c.send(DISCONNECT)
            c.close()


def test_inflight_resent():
    with daemon() as d:
        infl = Raw(d.port, connect_pkt("infl", clean=False))
        check(infl.connack[0] & 1 == 1, "infl: session present not set")
        for i, mid in ((2, MIDS[1]), (3, MIDS[2])):
            m = infl.read_publish()
            check(m is not None and m[0] == "q/%d" % i,
                  "infl: got %r, want q/%d" % (m, i))
            check(m[5] and m[3] == mid, "infl: q/%d resent with dup=%r "
                  "mid=%d, want DUP and mid %d" % (i, m[5], m[3], mid))
            infl.send(ack_pkt("puback", mid))
        infl.send(DISCONNECT)
        infl.close()


def test_qos2_receive_state():
    with daemon() as d:
        # a subscriber sees q2/2 once: from the fixture's queue for sess
        s = Raw(d.port, connect_pkt("sess", clean=False))
        seen = []
        for _ in range(5):
            m = s.read_publish()
            check(m is not None, "sess: queue short: %r" % seen)
            seen.append(m[0])
            s.send(ack_pkt("puback" if m[2] == 1 else "pubrec", m[3]))
        p2 = Raw(d.port, connect_pkt("p2", clean=False))
        check(p2.connack[0] & 1 == 1, "p2: session present not set")
        p2.send(publish_pkt("q2/2", "once", 2, 7, dup=True))
        expect(p2, PUBREC, 7)
        p2.send(ack_pkt("pubrel", 7))
        expect(p2, PUBCOMP, 7)
        while True:
            p = s.read(timeout=1)
            if p is None:
                break
            check(p[0] == PUBREL, "sess: QoS 2 message delivered twice: "
                  "%r" % (p,))
            s.send(ack_pkt("pubcomp", int.from_bytes(p[2][:2], "big")))
        check(seen.count("q2/2") == 1, "q2/2 seen %r" % seen)
        for c in (s, p2):
            c.send(DISCONNECT)
            c.close()


def test_file_upgraded():
    with daemon() as d:
        check(d.stop() == 0, "SIGTERM: bad exit")
        db = sqlite3.connect(os.path.join(d.tmp, "state", "firehose.db"))
        (v,) = db.execute("PRAGMA user_version").fetchone()
        check(v >= 2, "core version still %d" % v)
        mods = dict(db.execute("SELECT name, version FROM module"))
        (n,) = db.execute("SELECT count(*) FROM session").fetchone()
        db.close()
        check(n == 3, "sessions in the file after the upgrade: %d" % n)
        # the broker adopted the first release's tables as its module
        check(mods.get("mqtt", 0) >= 1, "module versions: %r" % mods)


run_cases(globals())
