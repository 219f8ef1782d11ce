#!/usr/bin/python3
"""MQTT 5.0 conformance, SUBSCRIBE/UNSUBSCRIBE (OASIS MQTT 5.0, sections
3.8 to 3.11, 4.8): subscription options, identifiers, retain handling,
shared subscriptions. One case per normative statement or small group,
raw packets, exact reason codes."""
import fhtest
from conformtest import CONF, drain
from fhtest import Daemon, check
from mqtttest import (Raw5, parse_ack5, parse_publish5, parse_suback5, prop,
                      publish5_pkt, subscribe5_pkt, unsubscribe5_pkt,
                      P_SUBSCRIPTION_ID)


def puback(r, mid, want=0):
    t, got, reason, _ = parse_ack5(r.read())
    check((t, got, reason) == (4, mid, want), "PUBACK %d" % mid)


def retained(r):
    return [(d["topic"], d["retain"]) for d in
            (parse_publish5(p) for p in drain(r))]


def test_3_8_3_5_reserved_option_bits_malformed():
    # [MQTT-3.8.3-5]: bits 6 and 7 of the options are reserved: else
    # Malformed Packet, DISCONNECT 0x81. QoS 3 likewise.
    with Daemon(CONF) as d:
        for i, o in enumerate((0x40, 0x80, 0x03)):
            r = Raw5(d.port, "o%d" % i)
            r.send(subscribe5_pkt(1, [("a", o)]))
            check(r.disconnected() == 0x81, "options 0x%02x" % o)


def test_3_8_3_retain_handling_3_protocol_error():
    # 3.8.3.1: Retain Handling 3 is a Protocol Error: DISCONNECT 0x82.
    with Daemon(CONF) as d:
        r = Raw5(d.port, "rh3")
        r.send(subscribe5_pkt(1, [("a", 0x30)]))
        check(r.disconnected() == 0x82, "want DISCONNECT 0x82")


def test_3_8_2_subscription_identifier_0_or_twice_protocol_error():
    # 3.8.2.1.2: a Subscription Identifier of 0, or more than one, is a
    # Protocol Error.
    with Daemon(CONF) as d:
        for i, ps in enumerate((prop(P_SUBSCRIPTION_ID, 0),
                                prop(P_SUBSCRIPTION_ID, 1) * 2)):
            r = Raw5(d.port, "si%d" % i)
            r.send(subscribe5_pkt(1, [("a", 0)], ps))
            check(r.disconnected() == 0x82, "sub id case %d" % i)


def test_3_8_4_6_suback_reason_per_filter_in_order():
    # [MQTT-3.8.4-6] (with 3.9.3): one reason per filter, in order: the
    # granted QoS.
    with Daemon(CONF) as d:
        r = Raw5(d.port, "s")
        r.send(subscribe5_pkt(7, [("a", 2), ("b", 0), ("c", 1), ("d", 0x2e)]))
        check(parse_suback5(r.read())[1:] == (7, [], [2, 0, 1, 2]),
              "SUBACK")


def test_3_3_1_9_to_11_retain_handling():
    # [MQTT-3.3.1-9]: Retain Handling 0: retained sent on every
    # SUBSCRIBE; [MQTT-3.3.1-10]: 1: only when the subscription is new;
    # [MQTT-3.3.1-11]: 2: never. Sent with RETAIN 1.
    with Daemon(CONF) as d:
        p = Raw5(d.port, "p")
        p.send(publish5_pkt("rh/a", "x", qos=1, mid=1, retain=True))
        puback(p, 1, 0x10)
        for rh, first, again in ((0, 1, 1), (1, 1, 0), (2, 0, 0)):
            s = Raw5(d.port, "s%d" % rh)
            for n, want in ((1, first), (2, again)):
                check(s.subscribe(n, [("rh/#", rh << 4)]) == [0], "SUBACK")
                got = retained(s)
                check(got == [("rh/a", True)] * want,
                      "Retain Handling %d, SUBSCRIBE %d: %r" % (rh, n, got))


def test_3_8_4_3_resubscribe_replaces_options():
    # [MQTT-3.8.4-3]: an identical filter replaces the subscription and
    # its options: No Local set, then cleared.
    with Daemon(CONF) as d:
        s = Raw5(d.port, "s")
        check(s.subscribe(1, [("nl", 0x04)]) == [0], "SUBACK")
        s.send(publish5_pkt("nl", "own", qos=1, mid=1))
        puback(s, 1)
        check(drain(s) == [], "No Local delivered its own message")
        check(s.subscribe(2, [("nl", 0)]) == [0], "SUBACK")
        s.send(publish5_pkt("nl", "own", qos=1, mid=2))
        got = [s.read(), s.read()]
        check(sorted(g[0] for g in got) == [3, 4], "without No Local: %r"
              % got)


def test_4_8_2_shared_filters_do_not_match_dollar_topics():
    # [MQTT-4.7.2-1] through a shared subscription: "$share/g/#" does
    # not match "$x/a"; "$share/g/$x/#" does.
    with Daemon(CONF) as d:
        s = Raw5(d.port, "s")
        check(s.subscribe(1, [("$share/g/#", 0)]) == [0], "SUBACK")
        t = Raw5(d.port, "t")
        check(t.subscribe(1, [("$share/h/$x/#", 0)]) == [0], "SUBACK")
        p = Raw5(d.port, "p")
        p.send(publish5_pkt("$x/a", "x", qos=1, mid=1))
        puback(p, 1)
        check(drain(s) == [], "$share/g/# matched a $ topic")
        check([parse_publish5(q)["topic"] for q in drain(t)] == ["$x/a"],
              "$share/h/$x/# did not match")


def test_3_11_unsuback_reasons_in_order():
    # 3.11.3: one reason per filter, in order: 0x00 removed, 0x11 there
    # was none.
    with Daemon(CONF) as d:
        s = Raw5(d.port, "s")
        check(s.subscribe(1, [("u/a", 0), ("$share/g/u/b", 0)]) == [0, 0],
              "SUBACK")
        s.send(unsubscribe5_pkt(2, ["u/x", "u/a", "$share/g/u/b",
                                    "u/a"]))
        t, mid, _, codes = parse_suback5(s.read())
        check((t, mid, codes) == (11, 2, [0x11, 0, 0, 0x11]),
              "UNSUBACK %r" % codes)


fhtest.run_cases(globals())
