#!/usr/bin/python3
"""QoS flows: the in-flight window (max_inflight_messages), persistent
sessions queueing QoS>0 while offline up to max_queued_messages, redelivery
with DUP on resume, QoS 2 exactly once inbound, QoS downgrade."""
import time

from fhtest import Daemon, check, main
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


def test():
    with Daemon(CONF) as d:
        pub = Client(d.port, "pub")
        # in-flight window: 3 unacknowledged QoS 1, no more
        r = Raw(d.port, connect_pkt("win", clean=False))
        r.send(subscribe_pkt(1, [("win/#", 1)]))
        check(r.read()[0] == 9, "SUBACK")
        for i in range(6):
            pub.pub("win/x", "m%d" % i, qos=1)
        got = [r.read_publish(5) for _ in range(3)]
        check([g[1] for g in got] == [b"m0", b"m1", b"m2"], "window %r" % got)
        check(r.read(1) is None, "more than max_inflight_messages in flight")
        r.send(ack_pkt("puback", got[0][3]))
        g = r.read_publish(5)
        check(g[1] == b"m3" and not g[5], "next after PUBACK %r" % (g,))
        check(r.read(1) is None, "window overrun after one PUBACK")
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
        check(r.read(1) is None, "more than max_queued_messages kept")
        r.send(packet(0xe0))
        r.close()
        # QoS 2 out: PUBREC -> PUBREL -> PUBCOMP, redelivery of PUBREL
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
        check(r.read(1) is None, "message sent again after PUBCOMP")
        r.close()
        # QoS 2 in: a resent PUBLISH (DUP) is delivered once
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
        w.nothing(1)
        # after PUBCOMP the id is free again: a new message
        s.send(publish_pkt("in2", "again", qos=2, mid=9))
        s.read()
        w.expect("in2", "again")
        # QoS 1 in: PUBACK; downgrade to the granted QoS 0
        w.sub("down", 0)
        s.send(publish_pkt("down", "x", qos=1, mid=10))
        check(s.read() == (4, 0, b"\x00\x0a"), "PUBACK")
        w.expect("down", "x", qos=0)
        # offline clean-session clients get nothing queued
        c = Client(d.port, "cleanq")
        c.sub("cq", 1)
        c.close()
        pub.pub("cq", "lost", qos=1)
        c = Client(d.port, "cleanq")
        c.nothing(1)
        c.close()
        w.close()
        pub.close()
    # session_expiry: an offline persistent session goes after a while
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


main(test)
