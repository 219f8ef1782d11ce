#!/usr/bin/python3
"""A restart keeps retained messages and persistent sessions.

For a clean stop (SIGTERM) and for kill -9, on the same state_dir:
retained messages (set, and one cleared), a persistent session offline with
its subscriptions and queued QoS 1/2 messages, one online with messages in
flight (resent with DUP and the same packet id), and the QoS 2 receive
state of a persistent publisher (its resent PUBLISH is not delivered
twice). Then a state file that is not a database: moved aside, and the
broker serves with a fresh one.
"""
import os

import fhtest
from durabletest import (CONF, PUBACK, PUBCOMP, PUBREC, PUBREL, SUBACK, bye,
                         expect, stop)
from fhtest import Daemon, check
from mqtttest import Raw, ack_pkt, connect_pkt, publish_pkt, subscribe_pkt


def pub1(r, topic, payload, mid, retain=False):
    r.send(publish_pkt(topic, payload, 1, mid, retain))
    expect(r, PUBACK, mid)


def pub2(r, topic, payload, mid):
    r.send(publish_pkt(topic, payload, 2, mid))
    expect(r, PUBREC, mid)
    r.send(ack_pkt("pubrel", mid))
    expect(r, PUBCOMP, mid)


def subscribe(r, filters, mid=1):
    r.send(subscribe_pkt(mid, filters))
    expect(r, SUBACK, mid)


def before(d):
    """State to keep. Every step that must survive ends with an ack that
    comes only after its commit."""
    p = Raw(d.port, connect_pkt("pub", clean=True))
    pub1(p, "r/a", "A", 1, retain=True)
    p.send(publish_pkt("r/b", "B", 0, retain=True))
    pub1(p, "r/c", "C", 2, retain=True)
    pub1(p, "r/c", "", 3, retain=True)     # cleared

    s = Raw(d.port, connect_pkt("sess", clean=False))
    subscribe(s, [("q/#", 1), ("q2/#", 2)])
    bye(s)

    infl = Raw(d.port, connect_pkt("infl", clean=False))
    subscribe(infl, [("q/#", 1)])

    for i in (1, 2, 3):
        pub1(p, "q/%d" % i, "m%d" % i, 10 + i)
    pub2(p, "q2/1", "two", 20)

    mids = []
    for i in (1, 2, 3):
        m = infl.read_publish()
        check(m is not None and m[0] == "q/%d" % i and m[2] == 1,
              "infl: got %r, want q/%d" % (m, i))
        mids.append(m[3])
    infl.send(ack_pkt("puback", mids[0]))
    # Its PUBACK is staged before this retained publish: once that is
    # acknowledged, the ack is committed too.
    pub1(infl, "sync/infl", "x", 99, retain=True)

    p2 = Raw(d.port, connect_pkt("p2", clean=False))
    p2.send(publish_pkt("q2/2", "once", 2, 7))
    expect(p2, PUBREC, 7)       # no PUBREL: the receive state is kept
    p.close()
    return mids


def after(d, mids):
    # retained: r/a and r/b, not the cleared r/c
    r = Raw(d.port, connect_pkt("late", clean=True))
    subscribe(r, [("r/#", 0)])
    got = {}
    for _ in range(2):
        m = r.read_publish()
        check(m is not None, "late subscriber: retained messages lost, "
              "got %r" % got)
        check(m[4], "%s: retain flag not set" % m[0])
        got[m[0]] = m[1]
    check(got == {"r/a": b"A", "r/b": b"B"}, "retained: %r" % got)
    check(r.read(timeout=0.5) is None, "cleared r/c came back")
    r.close()

    # offline session: present, queued messages in order, subscription
    s = Raw(d.port, connect_pkt("sess", clean=False))
    check(s.connack[0] & 1 == 1, "sess: session present not set")
    want = [("q/1", b"m1", 1), ("q/2", b"m2", 1), ("q/3", b"m3", 1),
            ("q2/1", b"two", 2), ("q2/2", b"once", 2)]
    got = []
    for topic, payload, qos in want:    # all five fit in the window
        m = s.read_publish()
        check(m is not None and (m[0], m[1], m[2]) == (topic, payload, qos),
              "sess: got %r, want %s" % (m, topic))
        check(not m[5], "sess: %s flagged DUP but never sent" % topic)
        got.append(m)
    for m in got:
        s.send(ack_pkt("puback" if m[2] == 1 else "pubrec", m[3]))
    for m in got[3:]:
        expect(s, PUBREL, m[3])
        s.send(ack_pkt("pubcomp", m[3]))

    # in flight: resent with DUP and the same packet id; q/1 was acked
    infl = Raw(d.port, connect_pkt("infl", clean=False))
    check(infl.connack[0] & 1 == 1, "infl: session present not set")
    for i, mid in ((2, mids[1]), (3, mids[2])):
        m = infl.read_publish()
        check(m is not None and m[0] == "q/%d" % i, "infl: got %r, want "
              "q/%d" % (m, i))
        check(m[5] and m[3] == mid, "infl: q/%d resent with dup=%r mid=%d,"
              " want DUP and mid %d" % (i, m[5], m[3], mid))
        infl.send(ack_pkt("puback", mid))

    # QoS 2 receive state: the resent PUBLISH is acknowledged, not
    # delivered again
    p2 = Raw(d.port, connect_pkt("p2", clean=False))
    p2.send(publish_pkt("q2/2", "once", 2, 7, dup=True))
    expect(p2, PUBREC, 7)
    p2.send(ack_pkt("pubrel", 7))
    expect(p2, PUBCOMP, 7)
    m = s.read(timeout=1)
    check(m is None, "sess: QoS 2 message delivered twice: %r" % (m,))

    # the subscriptions still route new messages
    p = Raw(d.port, connect_pkt("pub", clean=True))
    pub1(p, "q/4", "m4", 1)
    for who in (s, infl):
        m = who.read_publish()
        check(m is not None and m[0] == "q/4", "new message: got %r" % (m,))
    bye(s, infl, p2, p)


def restart(how):
    with Daemon(CONF) as d:
        mids = before(d)
        stop(d, how)
        d.start()
        check("restored 3 sessions, 7 messages, 3 retained" in d.logtext(),
              "%s: restore not logged" % how)
        after(d, mids)


def corrupt_file():
    d = Daemon(CONF, wait=None)
    with d:
        os.makedirs(os.path.join(d.tmp, "state"), mode=0o700)
        with open(os.path.join(d.tmp, "state", "firehose.db"), "wb") as f:
            f.write(b"this is not a database\n" * 100)
        d.start()
        check("corrupt-" in d.logtext(), "corrupt file not reported")
        p = Raw(d.port, connect_pkt("pub", clean=True))
        pub1(p, "r/x", "X", 1, retain=True)
        p.close()
        d.kill9()
        d.start()
        r = Raw(d.port, connect_pkt("late", clean=True))
        subscribe(r, [("r/#", 0)])
        m = r.read_publish()
        check(m is not None and m[:2] == ("r/x", b"X"),
              "fresh file: retained message lost: %r" % (m,))
        r.close()


def test_sigterm_restart_keeps_retained_sessions_and_in_flight():
    restart("term")


def test_kill9_restart_keeps_retained_sessions_and_in_flight():
    restart("kill9")


def test_corrupt_file_moved_aside_and_a_fresh_one_works():
    corrupt_file()


fhtest.run_cases(globals())
