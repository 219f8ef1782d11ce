#!/usr/bin/python3
"""QoS flows: the in-flight window (max_inflight_messages), persistent
sessions queueing QoS>0 while offline up to max_queued_messages, redelivery
with DUP on resume, QoS 2 exactly once inbound, QoS downgrade."""
import time

import fhtest
from fhtest import Daemon, check
from mqtttest import Client, Raw, ack_pkt, connect_pkt, packet, publish_pkt, \
    subscribe_pkt

CONF = """[broker]
sys_interval = 0
anonymous_publish = true
max_inflight_messages = 3
max_queued_messages = 5
[listener mqtt]
bind = 127.0.0.1:{port}
"""


def window(d, pub):
    """A persistent "win" session with m0..m5 published: m0..m2 in
    flight, the rest queued. Returns the raw connection and m0..m2."""
    r = Raw(d.port, connect_pkt("win", clean=False))
    r.send(subscribe_pkt(1, [("win/#", 1)]))
    check(r.read()[0] == 9, "SUBACK")
    for i in range(6):
        pub.pub("win/x", "m%d" % i, qos=1)
    got = [r.read_publish(5) for _ in range(3)]
    check([g[1] for g in got] == [b"m0", b"m1", b"m2"], "window %r" % got)
    return r, got


def test_inflight_window_holds_at_max():
    with Daemon(CONF) as d:
        pub = Client(d.port, "pub")
        r, _ = window(d, pub)
        r.nothing(via=pub)    # more than max_inflight_messages in flight?
        r.close()
        pub.close()


def test_inflight_window_one_puback_one_more():
    with Daemon(CONF) as d:
        pub = Client(d.port, "pub")
        r, got = window(d, pub)
        r.send(ack_pkt("puback", got[0][3]))
        g = r.read_publish(5)
        check(g[1] == b"m3" and not g[5], "next after PUBACK %r" % (g,))
        r.nothing()           # window overrun after one PUBACK?
        r.close()
        pub.close()


def test_resume_redelivers_with_dup_then_queue_in_order():
    with Daemon(CONF) as d:
        pub = Client(d.port, "pub")
        r, got = window(d, pub)
        r.send(ack_pkt("puback", got[0][3]))
        check(r.read_publish(5)[1] == b"m3", "m3")
        # drop the connection: m1, m2, m3 in flight, m4, m5 queued
        r.close()
        for i in range(6, 12):
            pub.pub("win/x", "m%d" % i, qos=1)   # queue holds 5: m4..m8
        r = Raw(d.port, connect_pkt("win", clean=False))
        check(r.connack == b"\x01\x00", "session present %r" % r.connack)
        seen = []
        for i in range(3):
            g = r.read_publish(5)
            check(g[5], "redelivery without DUP: %r" % (g,))
            seen.append(g[1])
            r.send(ack_pkt("puback", g[3]))
        check(seen == [b"m1", b"m2", b"m3"], "redelivered %r" % seen)
        for i in range(5):
            g = r.read_publish(5)
            check(g is not None, "queued message %d missing" % i)
            check(not g[5], "queued message with DUP")
            seen.append(g[1])
            r.send(ack_pkt("puback", g[3]))
        check(seen[3:] == [b"m4", b"m5", b"m6", b"m7", b"m8"],
              "queue order %r" % seen)
        r.nothing()           # more than max_queued_messages kept?
        r.send(packet(0xe0))
        r.close()
        pub.close()


def test_qos2_out_pubrel_resent_on_resume():
    with Daemon(CONF) as d:
        pub = Client(d.port, "pub")
        r = Raw(d.port, connect_pkt("q2", clean=False))
        r.send(subscribe_pkt(1, [("q2", 2)]))
        r.read()
        pub.pub("q2", "two", qos=2)
        g = r.read_publish()
        check(g[2] == 2, "qos %r" % (g,))
        r.send(ack_pkt("pubrec", g[3]))
        p = r.read()
        check(p == (6, 2, g[3].to_bytes(2, "big")), "PUBREL %r" % (p,))
        r.close()
        r = Raw(d.port, connect_pkt("q2", clean=False))
        p = r.read()
        check(p == (6, 2, g[3].to_bytes(2, "big")), "PUBREL again %r" % (p,))
        r.send(ack_pkt("pubcomp", g[3]))
        r.nothing()           # the message sent again after PUBCOMP?
        r.close()
        pub.close()


def test_qos2_in_dup_delivered_once():
    with Daemon(CONF) as d:
        w = Client(d.port, "w")
        w.sub("in2", 2)
        s = Raw(d.port, connect_pkt("sender"))
        s.send(publish_pkt("in2", "once", qos=2, mid=9))
        check(s.read() == (5, 0, b"\x00\x09"), "PUBREC")
        s.send(publish_pkt("in2", "once", qos=2, mid=9, dup=True))
        check(s.read() == (5, 0, b"\x00\x09"), "PUBREC again")
        s.send(ack_pkt("pubrel", 9))
        check(s.read() == (7, 0, b"\x00\x09"), "PUBCOMP")
        w.expect("in2", "once", qos=2)
        w.nothing()
        # after PUBCOMP the id is free again: a new message
        s.send(publish_pkt("in2", "again", qos=2, mid=9))
        check(s.read() == (5, 0, b"\x00\x09"), "PUBREC for a reused id")
        s.send(ack_pkt("pubrel", 9))
        check(s.read() == (7, 0, b"\x00\x09"), "PUBCOMP for a reused id")
        w.expect("in2", "again")
        s.close()
        w.close()


def test_qos1_in_puback_and_downgrade_to_granted():
    with Daemon(CONF) as d:
        w = Client(d.port, "w")
        w.sub("down", 0)
        s = Raw(d.port, connect_pkt("sender"))
        s.send(publish_pkt("down", "x", qos=1, mid=10))
        check(s.read() == (4, 0, b"\x00\x0a"), "PUBACK")
        w.expect("down", "x", qos=0)
        s.close()
        w.close()


def test_clean_session_gets_nothing_queued():
    with Daemon(CONF) as d:
        pub = Client(d.port, "pub")
        c = Client(d.port, "cleanq")
        c.sub("cq", 1)
        c.close()
        pub.pub("cq", "lost", qos=1)
        c = Client(d.port, "cleanq")
        c.nothing(via=pub)
        c.close()
        pub.close()


def test_offline_session_expires():
    conf = CONF.replace("sys_interval = 0", "sys_interval = 1s\n"
                        "session_expiry = 1s")
    with Daemon(conf) as d:
        r = Raw(d.port, connect_pkt("exp", clean=False))
        r.send(packet(0xe0))
        r.close()
        w = Client(d.port, "w2")
        w.sub("$SYS/broker/clients/total", 0)
        deadline = time.time() + 20
        while True:
            m = w.get(max(0.1, deadline - time.time()))
            check(m is not None, "offline session never expired")
            if not m.retain and m.payload == b"1":   # only w2 is left
                break
        w.close()
        r = Raw(d.port, connect_pkt("exp", clean=False))
        check(r.connack == b"\x00\x00", "expired session resumed")
        r.close()


fhtest.run_cases(globals())
