#!/usr/bin/python3
"""MQTT 5.0 conformance, PUBLISH and its acks (OASIS MQTT 5.0, sections
3.3 to 3.7, 4.3): one case per normative statement or small group, raw
packets, byte-exact answers."""
import fhtest
from conform5test import after_connect, daemon, drain, pub
from fhtest import check
from mqtttest import (P_CONTENT_TYPE, P_CORRELATION_DATA, P_MESSAGE_EXPIRY,
                      P_PAYLOAD_FORMAT, P_RESPONSE_TOPIC, P_TOPIC_ALIAS,
                      P_USER, Raw5, _str, ack5_pkt, packet, prop, props5,
                      publish5_pkt)


def sub(d, cid, flt, opts):
    r = Raw5(d.port, cid)
    check(r.subscribe(1, [(flt, opts)]) == [opts & 3], "SUBACK")
    return r


def test_3_3_1_4_qos_3_malformed():
    # [MQTT-3.3.1-4]: QoS 3 is malformed: DISCONNECT 0x81.
    with daemon() as d:
        after_connect(d.port, packet(0x36, _str("t") + b"\x00\x01\x00x"),
                      0x81, "QoS 3")


def test_3_3_1_2_dup_with_qos_0_malformed():
    # [MQTT-3.3.1-2]: DUP MUST be 0 for QoS 0: malformed.
    with daemon() as d:
        after_connect(d.port, packet(0x38, _str("t") + b"\x00x"), 0x81,
                      "DUP QoS 0")


def test_3_3_2_2_topic_name_without_wildcards():
    # [MQTT-3.3.2-2]: a Topic Name MUST NOT contain wildcards: malformed,
    # 0x81, as Mosquitto answers (0x90 says "correctly formed, but not
    # accepted").
    with daemon() as d:
        for t in ("a/+", "#", "a/#/b", "#/test/topic"):
            after_connect(d.port, publish5_pkt(t, "x"), 0x81, t)


def test_2_2_1_3_qos_1_packet_id_0():
    # [MQTT-2.2.1-3]: a QoS > 0 PUBLISH has a non-zero packet id: a
    # protocol error (0x82), as Mosquitto answers.
    with daemon() as d:
        after_connect(d.port, publish5_pkt("t", "x", qos=1, mid=0), 0x82,
                      "id 0")


def test_3_3_2_8_topic_alias_0_invalid():
    # [MQTT-3.3.2-8]: Topic Alias 0 is a protocol error: 0x94.
    with daemon() as d:
        after_connect(d.port, publish5_pkt(
            "t", "x", props=prop(P_TOPIC_ALIAS, 0)), 0x94, "alias 0")


def test_3_3_2_9_topic_alias_over_maximum():
    # [MQTT-3.3.2-10]: over the server's Topic Alias Maximum: 0x94.
    with daemon() as d:
        after_connect(d.port, publish5_pkt(
            "t", "x", props=prop(P_TOPIC_ALIAS, 11)), 0x94, "alias 11")


def test_3_3_2_12_alias_replaces_topic():
    # [MQTT-3.3.2-12]: a PUBLISH with topic and alias sets the alias; an
    # empty topic with the alias uses it; delivery is by the real name.
    with daemon() as d:
        r = sub(d, "s", "al/#", 0)
        p = Raw5(d.port, "p")
        pub(p, "al/one", "1", props=prop(P_TOPIC_ALIAS, 1), mid=1)
        pub(p, "", "2", props=prop(P_TOPIC_ALIAS, 1), mid=2)
        pub(p, "al/two", "3", props=prop(P_TOPIC_ALIAS, 1), mid=3)
        pub(p, "", "4", props=prop(P_TOPIC_ALIAS, 1), mid=4)
        got = drain(r)
        want = [(3, 0, _str(t) + b"\x00" + m) for t, m in (
            ("al/one", b"1"), ("al/one", b"2"), ("al/two", b"3"),
            ("al/two", b"4"))]
        check(got == want, "got %r" % got)


def test_3_3_2_14_response_topic_no_wildcards():
    # [MQTT-3.3.2-14]: the Response Topic is a Topic Name: no wildcards.
    with daemon() as d:
        after_connect(d.port, publish5_pkt(
            "t", "x", props=prop(P_RESPONSE_TOPIC, "r/#")), 0x82,
            "response topic")


def test_3_3_2_6_message_expiry_passed_on():
    # [MQTT-3.3.2-6]: the server sends the Message Expiry Interval less
    # the time the message waited: sent on at once, it is unchanged.
    with daemon() as d:
        r = sub(d, "s", "ex/#", 0)
        p = Raw5(d.port, "p")
        pub(p, "ex/t", "m", props=prop(P_MESSAGE_EXPIRY, 100))
        got = drain(r)
        want = (3, 0, _str("ex/t") + props5(prop(P_MESSAGE_EXPIRY, 100)) +
                b"m")
        check(got == [want], "got %r, want %r" % (got, want))


def test_3_3_2_6_retained_expiry_counts_down():
    # [MQTT-3.3.2-6]: a retained message with an expiry, read at once:
    # never more than what was published.
    with daemon() as d:
        p = Raw5(d.port, "p")
        pub(p, "rx/t", "m", retain=True, props=prop(P_MESSAGE_EXPIRY, 100),
            reason=0x10)
        r = Raw5(d.port, "s")
        check(r.subscribe(1, [("rx/#", 0)]) == [0], "SUBACK")
        got = drain(r)
        want = (3, 1, _str("rx/t") + props5(prop(P_MESSAGE_EXPIRY, 100)) +
                b"m")
        check(got == [want], "got %r, want %r" % (got, want))


def test_3_3_2_properties_forwarded_unchanged_in_order():
    # [MQTT-3.3.2-4] payload format, [MQTT-3.3.2-15] response topic,
    # [MQTT-3.3.2-16] correlation data, [MQTT-3.3.2-17, -18] user
    # properties in order, [MQTT-3.3.2-20] content type: sent on
    # unchanged.
    props = (prop(P_PAYLOAD_FORMAT, 1) + prop(P_CONTENT_TYPE, "text/x") +
             prop(P_RESPONSE_TOPIC, "resp/t") +
             prop(P_CORRELATION_DATA, b"\x00\xff") +
             prop(P_USER, ("k", "2")) + prop(P_USER, ("a", "1")) +
             prop(P_USER, ("k", "1")))
    with daemon() as d:
        r = sub(d, "s", "pp/#", 1)
        p = Raw5(d.port, "p")
        pub(p, "pp/t", "héllo", props=props)
        got = drain(r)
        want = (3, 2, _str("pp/t") + b"\x00\x01" + props5(props) +
                "héllo".encode())
        check(got == [want], "got %r, want %r" % (got, want))


def test_3_3_4_qos_downgrade():
    # [MQTT-3.8.4-8] / 3.3.4: delivered at the lower of the published QoS
    # and the subscription's.
    with daemon() as d:
        r = sub(d, "s", "dq/#", 0)
        p = Raw5(d.port, "p")
        pub(p, "dq/t", "two", qos=2, mid=7)
        p.send(ack5_pkt("pubrel", 7))
        check(p.read() == (7, 0, b"\x00\x07"), "PUBCOMP")
        got = drain(r)
        check(got == [(3, 0, _str("dq/t") + b"\x00two")], "got %r" % got)


def test_3_3_2_3_payload_format_invalid_0x99():
    # 3.3.2.3.2: Payload Format 1 with a payload that is not UTF-8: the
    # PUBACK/PUBREC says 0x99, the message is not delivered.
    with daemon() as d:
        r = sub(d, "s", "pf/#", 0)
        p = Raw5(d.port, "p")
        for qos, kind in ((1, 4), (2, 5)):
            p.send(publish5_pkt("pf/t", b"\xff\xfe", qos=qos, mid=qos,
                                props=prop(P_PAYLOAD_FORMAT, 1)))
            a = p.read()
            check(a == (kind, 0, bytes([0, qos, 0x99])), "ack %r" % (a,))
        check(drain(r) == [], "delivered")


def test_4_3_2_packet_id_reuse_qos1():
    # [MQTT-2.2.1-3, 4.3.2]: once PUBACKed, an id is free: the same id
    # again is a new message.
    with daemon() as d:
        r = sub(d, "s", "r1/#", 0)
        p = Raw5(d.port, "p")
        pub(p, "r1/t", "a", mid=5)
        pub(p, "r1/t", "b", mid=5)
        got = drain(r)
        check(got == [(3, 0, _str("r1/t") + b"\x00a"),
                      (3, 0, _str("r1/t") + b"\x00b")], "got %r" % got)


def test_4_3_3_qos2_once_until_pubrel_then_reused():
    # [MQTT-4.3.3-10]: until PUBREL the receiver must not deliver a resent
    # PUBLISH again; [MQTT-4.3.3-11]: after PUBCOMP the id is new.
    with daemon() as d:
        r = sub(d, "s", "r2/#", 0)
        p = Raw5(d.port, "p")
        pub(p, "r2/t", "a", qos=2, mid=9)
        p.send(publish5_pkt("r2/t", "a", qos=2, mid=9, dup=True))
        check(p.read() == (5, 0, b"\x00\x09"), "PUBREC for the resend")
        p.send(ack5_pkt("pubrel", 9))
        check(p.read() == (7, 0, b"\x00\x09"), "PUBCOMP")
        pub(p, "r2/t", "b", qos=2, mid=9)
        p.send(ack5_pkt("pubrel", 9))
        check(p.read() == (7, 0, b"\x00\x09"), "PUBCOMP 2")
        got = drain(r)
        check(got == [(3, 0, _str("r2/t") + b"\x00a"),
                      (3, 0, _str("r2/t") + b"\x00b")], "got %r" % got)


def test_3_7_2_pubrel_unknown_id_pubcomp_0x92():
    # 3.7.2.1: a PUBREL for an id the server does not hold: PUBCOMP 0x92
    # (Packet Identifier not found), the connection goes on.
    with daemon() as d:
        r = Raw5(d.port, "c")
        r.send(ack5_pkt("pubrel", 0x1234))
        check(r.read() == (7, 0, b"\x12\x34\x92"), "PUBCOMP")
        r.send(packet(0x62, b"\x00\x08"))      # the short form
        check(r.read() == (7, 0, b"\x00\x08\x92"), "PUBCOMP short")
        check(drain(r) == [], "more packets")


def test_4_3_3_4_pubrec_error_ends_the_flow():
    # [MQTT-4.3.3-4]: PUBREL only for a PUBREC under 0x80: a PUBREC 0x80
    # ends that message (no PUBREL) and frees its slot (4.9): the next
    # message comes with a window of one.
    with daemon() as d:
        from mqtttest import P_RECEIVE_MAXIMUM
        r = Raw5(d.port, "s", props=prop(P_RECEIVE_MAXIMUM, 1))
        check(r.subscribe(1, [("pr/#", 2)]) == [2], "SUBACK")
        p = Raw5(d.port, "p")
        for mid, m in ((1, "a"), (2, "b")):
            pub(p, "pr/t", m, qos=2, mid=mid)
            p.send(ack5_pkt("pubrel", mid))
            check(p.read() == (7, 0, bytes([0, mid])), "PUBCOMP")
        a = r.read()
        check(a == (3, 4, _str("pr/t") + b"\x00\x01\x00a"), "first %r" % (a,))
        r.send(ack5_pkt("pubrec", 1, 0x80))
        got = drain(r)
        check(got == [(3, 4, _str("pr/t") + b"\x00\x02\x00b")],
              "after PUBREC 0x80: %r" % got)


def test_4_3_2_puback_error_frees_slot():
    # 4.9: a PUBACK with an error reason ends the message too.
    with daemon() as d:
        from mqtttest import P_RECEIVE_MAXIMUM
        r = Raw5(d.port, "s", props=prop(P_RECEIVE_MAXIMUM, 1))
        check(r.subscribe(1, [("pa/#", 1)]) == [1], "SUBACK")
        p = Raw5(d.port, "p")
        pub(p, "pa/t", "a", mid=1)
        pub(p, "pa/t", "b", mid=2)
        check(r.read() == (3, 2, _str("pa/t") + b"\x00\x01\x00a"), "first")
        r.send(ack5_pkt("puback", 1, 0x83))
        got = drain(r)
        check(got == [(3, 2, _str("pa/t") + b"\x00\x02\x00b")],
              "after PUBACK 0x83: %r" % got)


def test_3_3_4_anonymous_publish_refused_0x87():
    # 3.4.2.1 / 3.5.2.1: a publish the server does not authorize: PUBACK
    # or PUBREC 0x87, not delivered.
    with daemon(anonymous_publish=False) as d:
        r = Raw5(d.port, "s")
        check(r.subscribe(1, [("an/#", 1)]) == [1], "SUBACK")
        r.send(publish5_pkt("an/t", "x", qos=1, mid=1))
        check(r.read() == (4, 0, b"\x00\x01\x87"), "PUBACK")
        r.send(publish5_pkt("an/t", "x", qos=2, mid=2))
        check(r.read() == (5, 0, b"\x00\x02\x87"), "PUBREC")
        check(drain(r) == [], "delivered")


def test_3_4_2_1_ack_reason_must_be_known():
    # 3.4.2.1: a PUBACK reason code not in its table is a protocol
    # error (0x82).
    with daemon() as d:
        after_connect(d.port, ack5_pkt("puback", 1, 0x05), 0x82,
                      "PUBACK 0x05")


def test_4_8_2_publish_to_share_topic_refused():
    # 4.8.2: "$share/..." names a shared subscription; a PUBLISH to it
    # could never be read: refused with 0x87, as Mosquitto does
    # (03-publish-dollar-v5), like $SYS.
    with daemon() as d:
        r = Raw5(d.port, "p")
        for mid, t in enumerate(("$share/share/topic", "$SYS/broker/x"), 1):
            r.send(publish5_pkt(t, "m", qos=1, mid=mid))
            check(r.read() == (4, 0, bytes([0, mid, 0x87])), "PUBACK for "
                  "%s" % t)


fhtest.run_cases(globals())
