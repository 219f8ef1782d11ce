#!/usr/bin/python3
"""MQTT 5.0 conformance, SUBSCRIBE/SUBACK/UNSUBSCRIBE/UNSUBACK and
subscription options (OASIS MQTT 5.0, sections 3.8 to 3.11, 4.8): one
case per normative statement or small group, raw packets, byte-exact
answers."""
import fhtest
from conform5test import after_connect, daemon, drain, pub
from fhtest import check
from mqtttest import (P_SUBSCRIPTION_ID, P_USER, Raw5, _str, packet,
                      parse_publish5, parse_suback5, prop, props5,
                      subscribe5_pkt, unsubscribe5_pkt)

NL, RAP = 0x04, 0x08


def rh(n):
    return n << 4


def pub0(topic, payload, retain=False, props=b""):
    """The exact QoS 0 PUBLISH a 5.0 subscriber gets."""
    return (3, 1 if retain else 0, _str(topic) + props5(props) + payload)


def test_3_8_1_1_reserved_header_flags_malformed():
    # [MQTT-3.8.1-1]: SUBSCRIBE's fixed header flags MUST be 0010.
    with daemon() as d:
        body = b"\x00\x01\x00" + _str("t") + b"\x00"
        after_connect(d.port, packet(0x80, body), 0x81, "flags 0")


def test_3_8_3_2_no_filter_protocol_error():
    # [MQTT-3.8.3-2]: at least one filter; none is a protocol error.
    with daemon() as d:
        after_connect(d.port, packet(0x82, b"\x00\x01\x00"), 0x82,
                      "no filter")


def test_3_8_3_5_reserved_option_bits_malformed():
    # [MQTT-3.8.3-5]: the reserved bits of the options MUST be 0.
    with daemon() as d:
        for opts in (0x40, 0x80, 0xC1):
            after_connect(d.port, subscribe5_pkt(1, [("t", opts)]), 0x81,
                          "options 0x%02x" % opts)


def test_3_8_3_qos_3_malformed():
    # 3.8.3.1: Maximum QoS 3 is malformed.
    with daemon() as d:
        after_connect(d.port, subscribe5_pkt(1, [("t", 3)]), 0x81, "QoS 3")


def test_3_8_3_1_retain_handling_3_protocol_error():
    # 3.8.3.1: Retain Handling 3 is a protocol error.
    with daemon() as d:
        after_connect(d.port, subscribe5_pkt(1, [("t", rh(3))]), 0x82,
                      "RH 3")


def test_3_8_3_4_shared_no_local_protocol_error():
    # [MQTT-3.8.3-4]: No Local on a shared subscription is a protocol
    # error.
    with daemon() as d:
        after_connect(d.port, subscribe5_pkt(1, [("$share/g/t", NL)]),
                      0x82, "shared no local")


def test_3_8_2_1_subscription_identifier_0_protocol_error():
    # 3.8.2.1.2: a Subscription Identifier of 0 is a protocol error.
    with daemon() as d:
        after_connect(d.port, subscribe5_pkt(
            1, [("t", 0)], prop(P_SUBSCRIPTION_ID, 0)), 0x82, "subid 0")


def test_3_8_2_1_subscription_identifier_twice_protocol_error():
    # 3.8.2.1.2: more than one Subscription Identifier: protocol error.
    with daemon() as d:
        after_connect(d.port, subscribe5_pkt(
            1, [("t", 0)], prop(P_SUBSCRIPTION_ID, 1) +
            prop(P_SUBSCRIPTION_ID, 2)), 0x82, "subid twice")


def test_3_9_3_1_suback_one_code_per_filter_in_order():
    # [MQTT-3.8.4-1] SUBACK with [MQTT-3.8.4-2] the same packet id;
    # [MQTT-3.9.3-1] one reason code per filter, in order; the granted
    # QoS is what was asked [MQTT-3.8.4-6]. User Properties are allowed
    # (3.8.2.1.3).
    with daemon() as d:
        r = Raw5(d.port, "s")
        r.send(subscribe5_pkt(0x1234, [("a/2", 2), ("$share/g/b", 1),
                                       ("c/#", 0 | RAP | rh(2)),
                                       ("d/+", 1 | NL)],
                              prop(P_USER, ("k", "v"))))
        p = r.read()
        check(p == (9, 0, b"\x12\x34\x00\x02\x01\x00\x01"),
              "SUBACK %r" % (p,))


def test_3_8_4_3_resubscribe_replaces():
    # [MQTT-3.8.4-3]: the same filter again replaces the subscription
    # (new options); messages are not duplicated; Retain Handling 0 sends
    # the retained messages again.
    with daemon() as d:
        p = Raw5(d.port, "p")
        pub(p, "rs/t", "ret", retain=True, reason=0x10)
        r = Raw5(d.port, "s")
        check(r.subscribe(1, [("rs/#", 0)]) == [0], "SUBACK 1")
        check(drain(r) == [pub0("rs/t", b"ret", True)], "retained 1")
        check(r.subscribe(2, [("rs/#", 1)]) == [1], "SUBACK 2")
        got = drain(r)
        check(got == [(3, 3, _str("rs/t") + b"\x00\x01\x00ret")],
              "retained again at QoS 1: %r" % got)
        r.send(packet(0x40, b"\x00\x01"))
        pub(p, "rs/t", "live", mid=2)
        got = drain(r)
        check(got == [(3, 2, _str("rs/t") + b"\x00\x02\x00live")],
              "one delivery at the new QoS: %r" % got)


def test_3_3_1_9_retain_handling_0_1_2():
    # [MQTT-3.3.1-9] RH 0: retained sent on every subscribe;
    # [MQTT-3.3.1-10] RH 1: only when the subscription is new;
    # [MQTT-3.3.1-11] RH 2: never.
    with daemon() as d:
        p = Raw5(d.port, "p")
        pub(p, "rh/t", "ret", retain=True, reason=0x10)
        for n, want in ((0, [True, True]), (1, [True, False]),
                        (2, [False, False])):
            r = Raw5(d.port, "s%d" % n)
            for i in range(2):
                check(r.subscribe(i + 1, [("rh/#", rh(n))]) == [0],
                      "SUBACK")
                got = drain(r)
                check(got == ([pub0("rh/t", b"ret", True)] if want[i]
                              else []),
                      "RH %d subscribe %d: %r" % (n, i + 1, got))
            r.close()


def test_3_3_1_12_retain_as_published():
    # [MQTT-3.3.1-12]: RAP 0: a live message goes out with RETAIN 0;
    # [MQTT-3.3.1-13]: RAP 1: with RETAIN as published. Retained ones
    # sent on subscribe have RETAIN 1 either way [MQTT-3.3.1-9].
    with daemon() as d:
        a = Raw5(d.port, "a")
        b = Raw5(d.port, "b")
        check(a.subscribe(1, [("ra/#", 0)]) == [0], "SUBACK a")
        check(b.subscribe(1, [("ra/#", RAP)]) == [0], "SUBACK b")
        p = Raw5(d.port, "p")
        pub(p, "ra/t", "r", retain=True, mid=1)
        pub(p, "ra/t", "n", mid=2)
        check(drain(a) == [pub0("ra/t", b"r"), pub0("ra/t", b"n")],
              "RAP 0")
        check(drain(b) == [pub0("ra/t", b"r", True), pub0("ra/t", b"n")],
              "RAP 1")


def test_3_8_3_3_no_local():
    # [MQTT-3.8.3-3]: No Local 1: the client's own messages are not sent
    # back to it; others' are; another subscription without it still is.
    with daemon() as d:
        me = Raw5(d.port, "me")
        check(me.subscribe(1, [("nl/#", NL)]) == [0], "SUBACK")
        pub(me, "nl/t", "mine", mid=1)
        other = Raw5(d.port, "other")
        pub(other, "nl/t", "theirs", mid=1)
        check(drain(me) == [pub0("nl/t", b"theirs")], "no local")


def test_3_3_4_3_subscription_identifier_on_delivery():
    # [MQTT-3.3.4-3]: a delivery carries the Subscription Identifier of
    # the matching subscription; [MQTT-3.3.4-4]: of every one that
    # matched when several did, in one PUBLISH or in several; one
    # without an id adds none.
    with daemon() as d:
        r = Raw5(d.port, "s")
        check(r.subscribe(1, [("si/#", 0)], prop(P_SUBSCRIPTION_ID, 5))
              == [0], "SUBACK 1")
        check(r.subscribe(2, [("si/a", 0)], prop(P_SUBSCRIPTION_ID, 300))
              == [0], "SUBACK 2")
        check(r.subscribe(3, [("si/+", 0)]) == [0], "SUBACK 3")
        p = Raw5(d.port, "p")
        pub(p, "si/b", "1", mid=1)
        pub(p, "si/a", "2", mid=2)
        got = [parse_publish5(x) for x in drain(r)]
        ids_b = sorted(v for m in got if m["payload"] == b"1"
                       for k, v in m["props"] if k == P_SUBSCRIPTION_ID)
        ids_a = sorted(v for m in got if m["payload"] == b"2"
                       for k, v in m["props"] if k == P_SUBSCRIPTION_ID)
        check(ids_b == [5] and ids_a == [5, 300],
              "subscription ids: b %r a %r (%r)" % (ids_b, ids_a, got))
        check(got[0]["props"] == [(P_SUBSCRIPTION_ID, 5)],
              "si/b props: %r" % got[0]["props"])


def test_3_3_4_subscription_identifier_exact_bytes():
    # 3.3.2.3.8: a Variable Byte Integer; 300 is two bytes.
    with daemon() as d:
        r = Raw5(d.port, "s")
        check(r.subscribe(1, [("sx/#", 0)], prop(P_SUBSCRIPTION_ID, 300))
              == [0], "SUBACK")
        p = Raw5(d.port, "p")
        pub(p, "sx/t", "m", mid=1)
        got = drain(r)
        check(got == [pub0("sx/t", b"m", props=b"\x0b\xac\x02")],
              "got %r" % got)


def test_3_11_3_1_unsuback_codes():
    # [MQTT-3.10.4-4, -5]: UNSUBACK with the same id, one code per filter
    # in order [MQTT-3.11.3-1]: 0x00 removed, 0x11 no subscription existed;
    # [MQTT-3.10.4-1] the removed one no longer delivers.
    with daemon() as d:
        r = Raw5(d.port, "s")
        check(r.subscribe(1, [("us/a", 0), ("us/b", 0)]) == [0, 0],
              "SUBACK")
        r.send(unsubscribe5_pkt(0x0102, ["us/a", "us/none", "us/b",
                                         "us/a"]))
        p = r.read()
        check(p == (11, 0, b"\x01\x02\x00\x00\x11\x00\x11"),
              "UNSUBACK %r" % (p,))
        q = Raw5(d.port, "p")
        q.send(__import__("mqtttest").publish5_pkt("us/a", "x", qos=1,
                                                   mid=1))
        check(q.read() == (4, 0, b"\x00\x01\x10"), "PUBACK 0x10")
        check(drain(r) == [], "delivered after UNSUBSCRIBE")


def test_3_10_1_1_unsubscribe_flags_and_empty():
    # [MQTT-3.10.1-1]: flags MUST be 0010 (malformed otherwise);
    # [MQTT-3.10.3-2]: at least one filter (protocol error).
    with daemon() as d:
        after_connect(d.port, packet(0xA0, b"\x00\x01\x00" + _str("t")),
                      0x81, "flags")
        after_connect(d.port, packet(0xA2, b"\x00\x01\x00"), 0x82,
                      "no filter")


def test_4_8_2_shared_one_delivery_per_group():
    # 4.8.2: each message goes to one session of each share group, and to
    # every ordinary subscription as well; retained messages are not sent
    # on subscribing to a shared subscription.
    with daemon() as d:
        p = Raw5(d.port, "p")
        pub(p, "sh/t", "ret", retain=True, reason=0x10)
        g1 = [Raw5(d.port, "g1-%d" % i) for i in range(2)]
        g2 = Raw5(d.port, "g2")
        for r in g1:
            check(r.subscribe(1, [("$share/one/sh/#", 0)]) == [0], "SUBACK")
        check(g2.subscribe(1, [("$share/two/sh/#", 0)]) == [0], "SUBACK")
        plain = Raw5(d.port, "plain")
        check(plain.subscribe(1, [("sh/#", rh(2))]) == [0], "SUBACK")
        for i in range(4):
            pub(p, "sh/t", str(i), mid=i + 1)
        one = [x for r in g1 for x in drain(r)]
        check(len(one) == 4 and all(x[0] == 3 for x in one),
              "group one got %d: %r" % (len(one), one))
        check(sorted(parse_publish5(x)["payload"] for x in one) ==
              [b"0", b"1", b"2", b"3"], "group one: %r" % one)
        check(drain(g2) == [pub0("sh/t", str(i).encode())
                            for i in range(4)], "group two")
        check(drain(plain) == [pub0("sh/t", str(i).encode())
                               for i in range(4)], "plain")


def test_4_7_3_topic_filter_malformed():
    # [MQTT-4.7.1-1, -2]: '#' last and alone in its level, '+' alone in
    # its level; [MQTT-4.7.3-1] at least one character; [MQTT-4.8.2-1,
    # -2] a ShareName of one character at least, without '/', '+', '#',
    # followed by '/' and a filter. A bad filter is malformed (0x81, as
    # Mosquitto answers).
    with daemon() as d:
        for f in ("a/#/b", "a#", "a/b+", "", "#/x", "$share/g+/t",
                  "$share/g#/t", "$share//t", "$share/g"):
            after_connect(d.port, subscribe5_pkt(1, [(f, 0)]), 0x81,
                          "filter %r" % f)


def test_3_8_2_1_subscription_identifier_range():
    # 3.8.2.1.2: 1 to 268,435,455 (four varint bytes); a fifth byte is a
    # malformed Variable Byte Integer [MQTT-1.5.5-1].
    with daemon() as d:
        r = Raw5(d.port, "s")
        check(r.subscribe(1, [("t", 0)], prop(P_SUBSCRIPTION_ID,
                                              268435455)) == [0], "SUBACK")
        after_connect(d.port, subscribe5_pkt(
            1, [("t", 0)], b"\x0b\xff\xff\xff\xff\x01"), 0x81, "5 bytes")


fhtest.run_cases(globals())
