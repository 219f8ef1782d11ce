#!/usr/bin/python3
"""MQTT 3.1.1 conformance, SUBSCRIBE/SUBACK and UNSUBSCRIBE/UNSUBACK (OASIS
MQTT 3.1.1, sections 3.8 to 3.11): one case per normative statement or
small group, raw packets, byte-exact answers."""
import fhtest
from conformtest import CONF, as_tuple, closed_silently, drain, pub1
from fhtest import Daemon, check
from mqtttest import (Raw, _str, ack_pkt, connect_pkt, packet, publish_pkt,
                      subscribe_pkt)


def unsubscribe_pkt(mid, filters):
    return packet(0xA2, mid.to_bytes(2, "big") +
                  b"".join(_str(f) for f in filters))


def test_3_8_1_1_subscribe_flags_must_be_0010():
    # [MQTT-3.8.1-1]: SUBSCRIBE's fixed header flags are 0,0,1,0.
    with Daemon(CONF) as d:
        for i, first in enumerate((0x80, 0x83, 0x88, 0x8A)):
            r = Raw(d.port, connect_pkt("f%d" % i))
            r.send(packet(first, b"\x00\x01" + _str("a") + b"\x00"))
            check(closed_silently(r), "SUBSCRIBE 0x%02x kept" % first)


def test_3_8_3_3_subscribe_without_filters_closes():
    # [MQTT-3.8.3-3]: at least one filter/QoS pair; none is a protocol
    # violation.
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("e"))
        r.send(packet(0x82, b"\x00\x01"))
        check(closed_silently(r), "empty SUBSCRIBE kept")
        r = Raw(d.port, connect_pkt("e2"))
        # a filter without its QoS byte
        r.send(packet(0x82, b"\x00\x01" + _str("a")))
        check(closed_silently(r), "filter without QoS kept")


def test_3_8_3_4_requested_qos_over_2_or_reserved_bits_close():
    # [MQTT-3-8.3-4]: the upper six bits of the requested QoS byte MUST be
    # 0 and QoS MUST be 0, 1 or 2; else malformed: closed, no SUBACK.
    with Daemon(CONF) as d:
        for i, q in enumerate((3, 4, 0x81, 0x40, 0xFF)):
            r = Raw(d.port, connect_pkt("q%d" % i))
            r.send(subscribe_pkt(1, [("a", 0), ("b", q)]))
            check(closed_silently(r), "QoS byte 0x%02x kept" % q)


def test_3_8_3_1_filters_must_be_valid_utf8():
    # [MQTT-3.8.3-1], [MQTT-4.7.3-1], [MQTT-4.7.3-2]: UTF-8, at least one
    # character, no U+0000.
    with Daemon(CONF) as d:
        for i, f in enumerate((b"\xc0\xaf", b"", b"a\x00", b"\xed\xa0\x80")):
            r = Raw(d.port, connect_pkt("u%d" % i))
            r.send(subscribe_pkt(1, [(f, 0)]))
            check(closed_silently(r), "filter %r kept" % f)


def test_3_8_4_1_2_suback_with_the_same_id():
    # [MQTT-3.8.4-1], [MQTT-3.8.4-2]: SUBACK, with the SUBSCRIBE's id.
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("s"))
        for mid in (1, 0x7f7f, 0xffff):
            r.send(subscribe_pkt(mid, [("a", 1)]))
            check(r.read() == (9, 0, mid.to_bytes(2, "big") + b"\x01"),
                  "SUBACK for %d" % mid)


def test_3_8_4_4_5_one_suback_codes_in_order():
    # [MQTT-3.8.4-4]: several filters are handled as a sequence of
    # SUBSCRIBEs answered by one SUBACK; [MQTT-3.8.4-5]: one return code
    # per filter, in their order.
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("s"))
        r.send(subscribe_pkt(3, [("a", 2), ("b/#", 0), ("+/c", 1),
                                 ("a", 0)]))
        check(r.read() == (9, 0, b"\x00\x03\x02\x00\x01\x00"), "SUBACK")
        # 300 filters: a SUBACK with a two-byte remaining length
        fl = [("m/%d" % i, i % 3) for i in range(300)]
        r.send(subscribe_pkt(4, fl))
        check(r.read() == (9, 0, b"\x00\x04" +
                           bytes(q for _, q in fl)), "big SUBACK")


def test_3_8_4_3_resubscribe_replaces_and_resends_retained():
    # [MQTT-3.8.4-3]: a SUBSCRIBE with a filter identical to an existing
    # subscription's replaces it (its QoS), re-sends the retained
    # messages, and one message still goes out once.
    with Daemon(CONF) as d:
        p = Raw(d.port, connect_pkt("p"))
        pub1(p, "rs/a", "kept", 1, retain=True)
        s = Raw(d.port, connect_pkt("s"))
        s.send(subscribe_pkt(1, [("rs/#", 2)]))
        check(s.read() == (9, 0, b"\x00\x01\x02"), "SUBACK")
        m = s.read()
        check(m is not None and m[0] == 3 and m[1] == 3,
              "retained at QoS 1: %r" % (m,))
        s.send(ack_pkt("puback", int.from_bytes(m[2][6:8], "big")))
        s.send(subscribe_pkt(2, [("rs/#", 0)]))
        check(s.read() == (9, 0, b"\x00\x02\x00"), "SUBACK")
        check(s.read() == as_tuple(publish_pkt("rs/a", "kept",
                                               retain=True)),
              "retained message not re-sent at the new QoS")
        pub1(p, "rs/b", "live", 2)
        check(drain(s) == [as_tuple(publish_pkt("rs/b", "live"))],
              "want one copy at QoS 0")


def test_3_8_4_4_retained_for_each_filter_after_the_suback():
    # [MQTT-3.8.4-4], [MQTT-3.3.1-6]: each filter's retained messages,
    # after the SUBACK (a SUBSCRIBE's answer comes first), in the order
    # of the filters.
    with Daemon(CONF) as d:
        p = Raw(d.port, connect_pkt("p"))
        pub1(p, "x/1", "one", 1, retain=True)
        pub1(p, "x/2", "two", 2, retain=True)
        s = Raw(d.port, connect_pkt("s"))
        s.send(subscribe_pkt(1, [("x/2", 0), ("x/1", 0)]))
        check(s.read() == (9, 0, b"\x00\x01\x00\x00"), "SUBACK first")
        check(drain(s) == [as_tuple(publish_pkt("x/2", "two", retain=True)),
                           as_tuple(publish_pkt("x/1", "one",
                                                retain=True))],
              "retained per filter, in order")


def test_3_10_1_1_unsubscribe_flags_must_be_0010():
    # [MQTT-3.10.1-1]: UNSUBSCRIBE's flags are 0,0,1,0.
    with Daemon(CONF) as d:
        for i, first in enumerate((0xA0, 0xA3, 0xAA)):
            r = Raw(d.port, connect_pkt("f%d" % i))
            r.send(packet(first, b"\x00\x01" + _str("a")))
            check(closed_silently(r), "UNSUBSCRIBE 0x%02x kept" % first)


def test_3_10_3_2_unsubscribe_without_filters_closes():
    # [MQTT-3.10.3-2]: at least one filter.
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("e"))
        r.send(packet(0xA2, b"\x00\x01"))
        check(closed_silently(r), "empty UNSUBSCRIBE kept")


def test_3_10_4_4_5_unsuback_even_when_not_subscribed():
    # [MQTT-3.10.4-4]: UNSUBACK with the UNSUBSCRIBE's id;
    # [MQTT-3.10.4-5]: even if no filter was deleted.
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("u"))
        r.send(unsubscribe_pkt(0x0102, ["never/subscribed"]))
        check(r.read() == (11, 0, b"\x01\x02"), "UNSUBACK")


def test_3_10_4_1_exact_filter_match_only():
    # [MQTT-3.10.4-1]: filters are compared character by character: an
    # UNSUBSCRIBE of "un/b" leaves "un/+"; "un/+" removes it.
    with Daemon(CONF) as d:
        s = Raw(d.port, connect_pkt("s"))
        s.send(subscribe_pkt(1, [("un/+", 0)]))
        check(s.read() == (9, 0, b"\x00\x01\x00"), "SUBACK")
        s.send(unsubscribe_pkt(2, ["un/b", "un/#", "UN/+"]))
        check(s.read() == (11, 0, b"\x00\x02"), "UNSUBACK")
        p = Raw(d.port, connect_pkt("p"))
        pub1(p, "un/b", "x", 1)
        check(drain(s) == [as_tuple(publish_pkt("un/b", "x"))],
              "un/+ removed by a different filter")
        s.send(unsubscribe_pkt(3, ["un/+"]))
        check(s.read() == (11, 0, b"\x00\x03"), "UNSUBACK")
        pub1(p, "un/b", "y", 2)
        check(drain(s) == [], "still subscribed")


def test_3_10_4_6_several_filters_one_unsuback():
    # [MQTT-3.10.4-6]: several filters are handled as a sequence, one
    # UNSUBACK; [MQTT-3.10.4-2]: no new messages for them afterwards.
    with Daemon(CONF) as d:
        s = Raw(d.port, connect_pkt("s"))
        s.send(subscribe_pkt(1, [("m/a", 0), ("m/b", 1), ("m/c", 2)]))
        check(s.read() == (9, 0, b"\x00\x01\x00\x01\x02"), "SUBACK")
        s.send(unsubscribe_pkt(9, ["m/a", "m/c", "m/zz"]))
        check(s.read() == (11, 0, b"\x00\x09"), "one UNSUBACK")
        check(drain(s) == [], "more than one UNSUBACK")
        p = Raw(d.port, connect_pkt("p"))
        for i, t in enumerate(("m/a", "m/b", "m/c")):
            pub1(p, t, "x", i + 1)
        got = [g for g in drain(s)]
        check(len(got) == 1 and got[0][0] == 3 and
              got[0][2][:5] == _str("m/b"), "want m/b only: %r" % got)


def test_3_10_4_3_inflight_completes_after_unsubscribe():
    # [MQTT-3.10.4-3]: QoS 1/2 messages already started for a filter are
    # completed after it is unsubscribed: a PUBACK is taken, and the
    # QoS 2 flow goes on to PUBCOMP.
    with Daemon(CONF) as d:
        s = Raw(d.port, connect_pkt("s"))
        s.send(subscribe_pkt(1, [("fl/1", 1), ("fl/2", 2)]))
        check(s.read() == (9, 0, b"\x00\x01\x01\x02"), "SUBACK")
        p = Raw(d.port, connect_pkt("p"))
        pub1(p, "fl/1", "a", 1)
        p.send(publish_pkt("fl/2", "b", qos=2, mid=2))
        check(p.read() == (5, 0, b"\x00\x02"), "PUBREC")
        m1, m2 = s.read(), s.read()
        check(m1[0] == 3 and m2[0] == 3, "PUBLISHes %r %r" % (m1, m2))
        s.send(unsubscribe_pkt(2, ["fl/1", "fl/2"]))
        check(s.read() == (11, 0, b"\x00\x02"), "UNSUBACK")
        s.send(ack_pkt("puback", int.from_bytes(m1[2][6:8], "big")))
        id2 = m2[2][6:8]
        s.send(packet(0x50, id2))
        check(s.read() == (6, 2, id2), "PUBREL after unsubscribe")
        s.send(packet(0x70, id2))
        check(drain(s) == [], "anything more")


fhtest.run_cases(globals())
