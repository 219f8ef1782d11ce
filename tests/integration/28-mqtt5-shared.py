#!/usr/bin/python3
"""Shared subscriptions, $share/GROUP/filter: one delivery per group,
spread over its members; each group gets its own; a QoS 1 message a
member leaves without acknowledging goes to another member, a QoS 2 one
sent to it stays with it [MQTT-4.8.2-4]; what waits on an offline member
goes to one that connects; no retained
messages on subscribe; No Local on a shared subscription is a protocol
error (DISCONNECT 0x82)."""
import fhtest
from fhtest import Daemon, check
from mqtttest import (P_RECEIVE_MAXIMUM, P_SUBSCRIPTION_ID, Raw5, parse_ack5, parse_publish5,
                      prop, prop_get, publish5_pkt, subscribe5_pkt)

CONF = """[broker]
anonymous_publish = true
sys_interval = 0
[listener mqtt]
bind = 127.0.0.1:{port}
"""

N = 10


def publish(p, topic, payload, mid, retain=False):
    p.send(publish5_pkt(topic, payload, qos=1, mid=mid, retain=retain))
    # 0x10: nobody subscribed (3.4.2.1)
    check(parse_ack5(p.read())[2] in (0, 0x10), "PUBACK")


def drain(s):
    """Every PUBLISH that came before a PINGRESP (acked)."""
    out = []
    s.send(bytes([0xC0, 0]))
    while True:
        p = s.read()
        check(p is not None, "no PINGRESP")
        if p[0] == 13:
            return out
        m = parse_publish5(p)
        out.append(m)
        if m["qos"]:
            s.send(bytes([0x40, 2]) + m["mid"].to_bytes(2, "big"))


def test_one_delivery_per_group_spread_over_members():
    with Daemon(CONF) as d:
        a = Raw5(d.port, "a")
        b = Raw5(d.port, "b")
        plain = Raw5(d.port, "plain")
        for s in (a, b):
            check(s.subscribe(1, [("$share/g/sh/#", 1)]) == [1], "SUBACK")
        plain.subscribe(1, [("sh/#", 1)])
        p = Raw5(d.port, "p")
        for i in range(N):
            publish(p, "sh/x", str(i), i + 1)
        ga, gb = drain(a), drain(b)
        got = sorted(int(m["payload"]) for m in ga + gb)
        check(got == list(range(N)), "each once to the group: %r" % got)
        check(ga and gb, "spread: a %d, b %d" % (len(ga), len(gb)))
        check(len(drain(plain)) == N, "a plain subscriber gets all")


def test_each_group_gets_its_own_copy():
    with Daemon(CONF) as d:
        a = Raw5(d.port, "a")
        b = Raw5(d.port, "b")
        a.subscribe(1, [("$share/one/t", 1)])
        b.subscribe(1, [("$share/two/t", 1)],
                    props=prop(P_SUBSCRIPTION_ID, 4))
        p = Raw5(d.port, "p")
        publish(p, "t", "x", 1)
        check(parse_publish5(a.read())["payload"] == b"x", "group one")
        m = parse_publish5(b.read())
        check(m["payload"] == b"x" and
              prop_get(m["props"], P_SUBSCRIPTION_ID) == 4, "group two")


def test_unacked_qos1_goes_to_another_member():
    with Daemon(CONF) as d:
        a = Raw5(d.port, "a")
        a.subscribe(1, [("$share/g/job", 1)])
        p = Raw5(d.port, "p")
        publish(p, "job", "work", 1)
        m = parse_publish5(a.read())
        check(m["payload"] == b"work", "a got it first")
        b = Raw5(d.port, "b")
        b.subscribe(1, [("$share/g/job", 1)])
        a.close()           # gone without PUBACK
        m = parse_publish5(b.read())
        check(m["payload"] == b"work" and m["qos"] == 1,
              "re-sent to b: %r" % m)


def test_qos2_sent_stays_with_its_member_queued_goes_to_another():
    """A QoS 2 message whose PUBLISH went to a member is completed with
    that member when it reconnects, never given to another
    [MQTT-4.8.2-4]: past PUBREC (PUBREL again) or not (PUBLISH again,
    DUP). One still queued for it (its Receive Maximum) was never sent:
    it goes to another member."""
    with Daemon(CONF) as d:
        a = Raw5(d.port, "a", clean=False,
                 props=prop(0x11, 300) + prop(P_RECEIVE_MAXIMUM, 2))
        a.subscribe(1, [("$share/g/q2", 2)])
        p = Raw5(d.port, "p")
        for mid, payload in ((1, "first"), (2, "second"), (3, "third")):
            p.send(publish5_pkt("q2", payload, qos=2, mid=mid))
            check(parse_ack5(p.read())[:2] == (5, mid), "PUBREC")
            p.send(bytes([0x62, 2, 0, mid]))
            check(p.read()[0] == 7, "PUBCOMP")
        m1 = parse_publish5(a.read())
        m2 = parse_publish5(a.read())
        check((m1["payload"], m2["payload"]) == (b"first", b"second"),
              "a: %r %r" % (m1, m2))
        a.send(bytes([0x50, 2]) + m1["mid"].to_bytes(2, "big"))
        check(a.read()[0] == 6, "PUBREL to a")
        a.nothing()             # third waits: the window is 2
        b = Raw5(d.port, "b")
        b.subscribe(1, [("$share/g/q2", 2)])
        a.close()               # first released, second sent, third queued
        m = parse_publish5(b.read())
        check(m["payload"] == b"third" and m["qos"] == 2,
              "the queued one goes to b: %r" % m)
        b.send(bytes([0x50, 2]) + m["mid"].to_bytes(2, "big"))
        check(b.read()[0] == 6, "PUBREL to b")
        b.send(bytes([0x70, 2]) + m["mid"].to_bytes(2, "big"))
        b.nothing()             # not first, not second
        a = Raw5(d.port, "a", clean=False, props=prop(0x11, 300))
        p1 = a.read()
        check(p1[0] == 6 and p1[2][:2] == m1["mid"].to_bytes(2, "big"),
              "a: PUBREL for first again, got %r" % (p1,))
        m = parse_publish5(a.read())
        check(m["payload"] == b"second" and m["dup"] and
              m["mid"] == m2["mid"], "a: second again with DUP: %r" % m)


def offline_member(d, topic, expiry=300):
    """Member "a" of $share/g/topic gone offline, its session kept for
    expiry seconds; then a publisher, "p"."""
    a = Raw5(d.port, "a", clean=False, props=prop(0x11, expiry))
    a.subscribe(1, [("$share/g/" + topic, 1)])
    a.close()
    return Raw5(d.port, "p")


def test_offline_persistent_member_queues_when_none_is_connected():
    with Daemon(CONF) as d:
        p = offline_member(d, "off")
        publish(p, "off", "kept", 1)
        a = Raw5(d.port, "a", clean=False, props=prop(0x11, 300))
        m = parse_publish5(a.read())
        check(m["payload"] == b"kept", "queued for the offline member")


def test_queued_for_an_expiring_member_goes_to_another():
    with Daemon(CONF) as d:
        p = offline_member(d, "exp", expiry=1)
        publish(p, "exp", "for someone", 1)    # queued for a, offline
        b = Raw5(d.port, "b")
        b.subscribe(1, [("$share/g/exp", 1)])
        # a's session ends a second after it went: b gets the message
        m = parse_publish5(b.read(timeout=15))
        check(m["payload"] == b"for someone", "%r" % m)


def test_waiting_on_an_offline_member_goes_to_one_that_connects():
    """Queued for a persistent member while none was connected: a member
    that connects (or subscribes) later takes it, after its SUBACK,
    rather than letting it wait for the offline one."""
    with Daemon(CONF) as d:
        p = offline_member(d, "park")
        publish(p, "park", "one", 1)
        publish(p, "park", "two", 2)
        b = Raw5(d.port, "b")
        b.subscribe(1, [("$share/g/park", 1)])     # SUBACK first
        got = [m["payload"] for m in drain(b)]
        check(got == [b"one", b"two"], "b: %r" % got)
        a = Raw5(d.port, "a", clean=False, props=prop(0x11, 300))
        a.nothing()


def test_no_retained_on_shared_subscribe():
    with Daemon(CONF) as d:
        p = Raw5(d.port, "p")
        publish(p, "ret/x", "old", 1, retain=True)
        a = Raw5(d.port, "a")
        a.subscribe(1, [("$share/g/ret/#", 1)])
        a.nothing()


def test_shared_no_local_is_protocol_error():
    with Daemon(CONF) as d:
        a = Raw5(d.port, "a")
        a.send(subscribe5_pkt(1, [("$share/g/x", 0x04)]))
        check(a.disconnected() == 0x82, "DISCONNECT 0x82")
        Raw5(d.port, "still-served")


fhtest.run_cases(globals())
