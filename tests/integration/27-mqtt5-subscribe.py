#!/usr/bin/python3
"""MQTT 5.0 SUBSCRIBE: No Local, Retain As Published, Retain Handling
0/1/2, subscription identifiers (all that match, on every delivery),
SUBACK and UNSUBACK reason codes, and a filter the ACL can never grant
refused (0x87 in 5.0, 0x80 in 3.1.1) instead of granted and silent."""
import os

import fhtest
from fhtest import Daemon, check
from mqtttest import (P_SUBSCRIPTION_ID, Raw, Raw5, connect_pkt,
                      parse_ack5, parse_publish5, parse_suback5, prop,
                      publish5_pkt, subscribe_pkt, unsubscribe5_pkt)

CONF = """[broker]
anonymous_publish = true
sys_interval = 0
[listener mqtt]
bind = 127.0.0.1:{port}
"""

NL, RAP = 0x04, 0x08


def rh(n):
    return n << 4


def publish(p, topic, payload, mid, retain=False):
    """PUBLISH at QoS 1 and its PUBACK; the PUBLISHes p got meanwhile."""
    p.send(publish5_pkt(topic, payload, qos=1, mid=mid, retain=retain))
    got = []
    while True:
        pkt = p.read()
        check(pkt is not None, "no PUBACK")
        if pkt[0] != 3:
            break
        got.append(parse_publish5(pkt))
    # 0x10: nobody subscribed (3.4.2.1)
    check(parse_ack5(pkt)[:3] in ((4, mid, 0), (4, mid, 0x10)), "PUBACK")
    return got


def test_no_local_skips_own_messages():
    with Daemon(CONF) as d:
        me = Raw5(d.port, "me")
        check(me.subscribe(1, [("nl/#", 1 | NL), ("all/#", 1)]) == [1, 1],
              "SUBACK")
        other = Raw5(d.port, "other")
        check(publish(me, "nl/a", "mine", 1) == [], "own, No Local")
        publish(other, "nl/a", "theirs", 1)
        m = parse_publish5(me.read())
        check((m["topic"], m["payload"]) == ("nl/a", b"theirs"), "%r" % m)
        got = publish(me, "all/a", "mine too", 2)
        check([(m["topic"], m["payload"]) for m in got] ==
              [("all/a", b"mine too")], "without No Local: %r" % got)
        me.nothing()


def test_retain_as_published():
    with Daemon(CONF) as d:
        s = Raw5(d.port, "s")
        s.subscribe(1, [("rap/#", 1 | RAP), ("plain/#", 1)])
        p = Raw5(d.port, "p")
        publish(p, "rap/x", "kept", 1, retain=True)
        publish(p, "plain/x", "kept", 2, retain=True)
        a, b = parse_publish5(s.read()), parse_publish5(s.read())
        check(a["topic"] == "rap/x" and a["retain"], "RAP: %r" % a)
        check(b["topic"] == "plain/x" and not b["retain"],
              "without RAP the flag is cleared: %r" % b)


def test_retain_handling_0_1_2():
    with Daemon(CONF) as d:
        p = Raw5(d.port, "p")
        publish(p, "rh/x", "old", 1, retain=True)
        s = Raw5(d.port, "s")
        # 0: sent at every SUBSCRIBE
        for _ in range(2):
            s.subscribe(1, [("rh/+", 1 | rh(0))])
            m = parse_publish5(s.read())
            check(m["payload"] == b"old" and m["retain"], "rh 0: %r" % m)
        # 1: only when the subscription is new
        s.subscribe(2, [("rh/#", 1 | rh(1))])
        check(parse_publish5(s.read())["payload"] == b"old", "rh 1 new")
        s.subscribe(3, [("rh/#", 1 | rh(1))])
        s.nothing()
        # 2: never
        t = Raw5(d.port, "t")
        t.subscribe(1, [("rh/x", 1 | rh(2))])
        t.nothing()
        publish(p, "rh/x", "live", 2)
        check(parse_publish5(t.read())["payload"] == b"live", "rh 2 live")


def test_subscription_identifiers_of_every_match():
    with Daemon(CONF) as d:
        s = Raw5(d.port, "s")
        s.subscribe(1, [("id/#", 1)], props=prop(P_SUBSCRIPTION_ID, 11))
        s.subscribe(2, [("id/+/x", 1)], props=prop(P_SUBSCRIPTION_ID, 300))
        s.subscribe(3, [("id/none", 1)])
        p = Raw5(d.port, "p")
        publish(p, "id/a/x", "both", 1)
        m = parse_publish5(s.read())
        ids = sorted(v for k, v in m["props"] if k == P_SUBSCRIPTION_ID)
        check(m["payload"] == b"both" and ids == [11, 300], "%r" % m)
        publish(p, "id/none", "one", 2)
        m = parse_publish5(s.read())
        ids = sorted(v for k, v in m["props"] if k == P_SUBSCRIPTION_ID)
        check(ids == [11], "only id/# has an id: %r" % m)
        # a new SUBSCRIBE of the filter without one drops it
        s.subscribe(4, [("id/#", 1)])
        publish(p, "id/q", "none", 3)
        m = parse_publish5(s.read())
        check(not [v for k, v in m["props"] if k == P_SUBSCRIPTION_ID],
              "%r" % m)


def test_unsuback_reason_codes():
    with Daemon(CONF) as d:
        s = Raw5(d.port, "s")
        s.subscribe(1, [("u/a", 0)])
        s.send(unsubscribe5_pkt(2, ["u/a", "u/never"]))
        t, mid, _, codes = parse_suback5(s.read())
        check((t, mid, codes) == (11, 2, [0x00, 0x11]),
              "UNSUBACK %r" % ((t, mid, codes),))


ACL_CONF = """[broker]
sys_interval = 0
allow_anonymous = true
anonymous_publish = true
acl_file = {tmp}/acl
[listener mqtt]
bind = 127.0.0.1:{port}
"""


def acl_daemon():
    d = Daemon(ACL_CONF, wait=None)
    with open(os.path.join(d.tmp, "acl"), "w") as f:
        f.write("topic read open/#\ntopic deny open/secret\n")
    return d.start()


def test_filter_acl_never_grants_is_refused_0x87():
    with acl_daemon() as d:
        s = Raw5(d.port, "s")
        codes = s.subscribe(1, [("open/+", 1), ("closed/#", 1),
                                ("open/secret", 0), ("#", 1)])
        check(codes == [1, 0x87, 0x87, 1], "SUBACK %r" % codes)


def test_filter_acl_never_grants_is_refused_0x80_in_311():
    with acl_daemon() as d:
        r = Raw(d.port, connect_pkt("old"))
        r.send(subscribe_pkt(1, [("open/#", 1), ("closed/#", 1)]))
        p = r.read()
        check(p is not None and p[0] == 9, "SUBACK: %r" % (p,))
        check(list(p[2][2:]) == [1, 0x80], "SUBACK %r" % p[2])


fhtest.run_cases(globals())
