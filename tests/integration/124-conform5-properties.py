#!/usr/bin/python3
"""MQTT 5.0 conformance, properties (OASIS MQTT 5.0, sections 2.2.2, 3.1.3
will properties, 3.3.2.3 PUBLISH properties, 3.4 to 3.14 acknowledgement
properties): what is forwarded unchanged, what is per hop, what is
refused. Raw packets, byte-exact answers."""
import fhtest
from conform5test import after_connect, daemon, drain, pub
from fhtest import check
from mqtttest import (P_CONTENT_TYPE, P_CORRELATION_DATA, P_MESSAGE_EXPIRY,
                      P_PAYLOAD_FORMAT, P_REASON_STRING, P_RESPONSE_TOPIC,
                      P_SESSION_EXPIRY, P_SUBSCRIPTION_ID, P_TOPIC_ALIAS,
                      P_TOPIC_ALIAS_MAXIMUM, P_USER, P_WILL_DELAY, Raw5,
                      _str, ack5_pkt, disconnect5_pkt, prop, props5,
                      publish5_pkt, subscribe5_pkt, unsubscribe5_pkt)

P_REQUEST_RESPONSE_INFO = 0x19
P_RESPONSE_INFO = 0x1A

APP_PROPS = (prop(P_PAYLOAD_FORMAT, 1) + prop(P_CONTENT_TYPE, "a/b") +
             prop(P_RESPONSE_TOPIC, "reply/to") +
             prop(P_CORRELATION_DATA, b"\x00\x01\x00") +
             prop(P_USER, ("z", "1")) + prop(P_USER, ("a", "2")) +
             prop(P_USER, ("z", "0")))


def test_3_1_3_2_will_properties_on_the_will():
    # [MQTT-3.1.3-10]: the will's properties (payload format, content
    # type, response topic, correlation data, user properties in order)
    # go with the Will Message when it is published.
    with daemon() as d:
        w = Raw5(d.port, "watch")
        check(w.subscribe(1, [("wp/#", 0)]) == [0], "SUBACK")
        r = Raw5(d.port, "dying", will=("wp/t", "bye", 0, False),
                 will_props=APP_PROPS)
        r.close()
        p = w.read()
        want = (3, 0, _str("wp/t") + props5(APP_PROPS) + b"bye")
        check(p == want, "will %r, want %r" % (p, want))


def test_3_1_3_2_will_message_expiry_passed_on():
    # 3.1.3.2.4: the will's Message Expiry Interval becomes the Message
    # Expiry of the published will (less the time it waited).
    with daemon() as d:
        w = Raw5(d.port, "watch")
        check(w.subscribe(1, [("we/#", 0)]) == [0], "SUBACK")
        r = Raw5(d.port, "dying", will=("we/t", "bye", 0, False),
                 will_props=prop(P_MESSAGE_EXPIRY, 100))
        r.close()
        p = w.read()
        want = (3, 0, _str("we/t") + props5(prop(P_MESSAGE_EXPIRY, 100)) +
                b"bye")
        check(p == want, "will %r, want %r" % (p, want))


def test_3_3_2_app_properties_on_retained_messages():
    # [MQTT-3.3.2-15..18, -20]: a retained message keeps its properties
    # for a later subscriber.
    with daemon() as d:
        p = Raw5(d.port, "p")
        pub(p, "rp/t", "kept", retain=True, props=APP_PROPS, reason=0x10)
        r = Raw5(d.port, "s")
        check(r.subscribe(1, [("rp/#", 0)]) == [0], "SUBACK")
        got = drain(r)
        want = (3, 1, _str("rp/t") + props5(APP_PROPS) + b"kept")
        check(got == [want], "got %r, want %r" % (got, want))


def test_3_3_2_7_topic_alias_is_per_connection():
    # [MQTT-3.3.2-7]: a publisher's Topic Alias is not passed on: a
    # subscriber without a Topic Alias Maximum gets the topic name and no
    # alias [MQTT-3.3.2-9].
    with daemon() as d:
        r = Raw5(d.port, "s")
        check(r.subscribe(1, [("ta/#", 0)]) == [0], "SUBACK")
        p = Raw5(d.port, "p")
        pub(p, "ta/t", "1", props=prop(P_TOPIC_ALIAS, 3), mid=1)
        pub(p, "", "2", props=prop(P_TOPIC_ALIAS, 3), mid=2)
        got = drain(r)
        check(got == [(3, 0, _str("ta/t") + b"\x001"),
                      (3, 0, _str("ta/t") + b"\x002")], "got %r" % got)


def test_3_3_2_10_server_alias_within_client_maximum():
    # [MQTT-3.3.2-10, -11]: the server may use aliases up to the client's
    # Topic Alias Maximum; the first use carries the name, later ones may
    # leave it empty.
    with daemon() as d:
        r = Raw5(d.port, "s", props=prop(P_TOPIC_ALIAS_MAXIMUM, 1))
        check(r.subscribe(1, [("sa/#", 0)]) == [0], "SUBACK")
        p = Raw5(d.port, "p")
        for i in range(3):
            pub(p, "sa/t", str(i), mid=i + 1)
        got = drain(r)
        from mqtttest import parse_publish5
        ms = [parse_publish5(x) for x in got]
        check(len(ms) == 3, "got %r" % got)
        aliases = [dict(m["props"]).get(P_TOPIC_ALIAS) for m in ms]
        check(all(a in (None, 1) for a in aliases), "aliases %r" % aliases)
        mapping = {}
        for m in ms:
            a = dict(m["props"]).get(P_TOPIC_ALIAS)
            if m["topic"]:
                if a:
                    mapping[a] = m["topic"]
                topic = m["topic"]
            else:
                check(a in mapping, "empty topic without a known alias")
                topic = mapping[a]
            check(topic == "sa/t", "topic %r" % topic)


def test_3_1_2_28_no_response_information_unasked():
    # [MQTT-3.1.2-28]: Request Response Information 0 (or absent): no
    # Response Information in CONNACK.
    with daemon() as d:
        for props in (b"", prop(P_REQUEST_RESPONSE_INFO, 0)):
            r = Raw5(d.port, "ri", props=props)
            check(all(k != P_RESPONSE_INFO for k, _ in r.connack_props),
                  "Response Information: %r" % r.connack_props)
            r.close()


def test_3_4_2_2_ack_properties_from_client_accepted():
    # 3.4.2.2, 3.5.2.2, 3.7.2.2: a client's PUBACK/PUBREC/PUBCOMP may
    # carry a Reason String and User Properties.
    rs = prop(P_REASON_STRING, "fine") + prop(P_USER, ("k", "v"))
    with daemon() as d:
        r = Raw5(d.port, "s")
        check(r.subscribe(1, [("ap/#", 2)]) == [2], "SUBACK")
        p = Raw5(d.port, "p")
        pub(p, "ap/1", "a", mid=1)
        r.read()
        r.send(ack5_pkt("puback", 1, 0, rs))
        pub(p, "ap/2", "b", qos=2, mid=2)
        p.send(ack5_pkt("pubrel", 2, 0, rs))
        check(p.read() == (7, 0, b"\x00\x02"), "PUBCOMP")
        q = r.read()
        check(q[0] == 3 and q[1] == 4, "QoS 2 delivery %r" % (q,))
        mid = q[2][6:8]
        r.send(ack5_pkt("pubrec", int.from_bytes(mid, "big"), 0, rs))
        check(r.read() == (6, 2, mid), "PUBREL")
        r.send(ack5_pkt("pubcomp", int.from_bytes(mid, "big"), 0, rs))
        check(drain(r) == [], "extra packets")


def test_3_10_2_unsubscribe_user_property_ok_subid_malformed():
    # 3.10.2.1: UNSUBSCRIBE may carry User Properties; a Subscription
    # Identifier is not allowed there (2.2.2.2: malformed).
    with daemon() as d:
        r = Raw5(d.port, "s")
        r.send(unsubscribe5_pkt(1, ["x"], prop(P_USER, ("k", "v"))))
        check(r.read() == (11, 0, b"\x00\x01\x00\x11"), "UNSUBACK")
        after_connect(d.port, unsubscribe5_pkt(
            2, ["x"], prop(P_SUBSCRIPTION_ID, 1)), 0x81, "subid")


def test_2_2_2_2_property_not_for_the_packet_malformed():
    # 2.2.2.2: a property its packet may not carry is malformed: Session
    # Expiry in SUBSCRIBE, Topic Alias in DISCONNECT.
    with daemon() as d:
        after_connect(d.port, subscribe5_pkt(
            1, [("t", 0)], prop(P_SESSION_EXPIRY, 0)), 0x81, "SUBSCRIBE")
        after_connect(d.port, disconnect5_pkt(
            0x04, prop(P_TOPIC_ALIAS, 1)), 0x81, "DISCONNECT")


def test_1_5_4_user_property_invalid_utf8_malformed():
    # [MQTT-1.5.4-1]: a UTF-8 string pair with ill-formed UTF-8 is
    # malformed.
    bad = bytes([P_USER]) + _str(b"k") + _str(b"\xc3\x28")
    with daemon() as d:
        after_connect(d.port, publish5_pkt("t", "x", props=bad), 0x81,
                      "user property")


def test_3_14_2_client_disconnect_properties_accepted():
    # 3.14.2.2: a client's DISCONNECT may carry a Reason String and User
    # Properties; 0x04 then sends the will [MQTT-3.14.4-3].
    with daemon() as d:
        w = Raw5(d.port, "watch")
        check(w.subscribe(1, [("dp/#", 0)]) == [0], "SUBACK")
        r = Raw5(d.port, "leaving", will=("dp/w", "w", 0, False))
        r.send(disconnect5_pkt(0x04, prop(P_REASON_STRING, "why") +
                               prop(P_USER, ("k", "v"))))
        check(r.closed(), "not closed")
        check(w.read() == (3, 0, _str("dp/w") + b"\x00w"), "will")


def test_3_1_3_9_will_delay_with_session_kept():
    # [MQTT-3.1.3-9]: Will Delay Interval 0 sends the will when the
    # connection goes, even with a session kept.
    with daemon() as d:
        w = Raw5(d.port, "watch")
        check(w.subscribe(1, [("wd/#", 0)]) == [0], "SUBACK")
        r = Raw5(d.port, "d", clean=False, props=prop(P_SESSION_EXPIRY, 60),
                 will=("wd/t", "now", 0, False),
                 will_props=prop(P_WILL_DELAY, 0))
        r.close()
        check(w.read() == (3, 0, _str("wd/t") + b"\x00now"), "will")


def test_3_3_2_4_payload_format_0_any_bytes():
    # 3.3.2.3.2: Payload Format 0 (bytes): any payload is passed on, the
    # indicator with it [MQTT-3.3.2-4].
    with daemon() as d:
        r = Raw5(d.port, "s")
        check(r.subscribe(1, [("pf/#", 0)]) == [0], "SUBACK")
        p = Raw5(d.port, "p")
        pub(p, "pf/t", b"\xff\x00\xfe", props=prop(P_PAYLOAD_FORMAT, 0))
        check(drain(r) == [(3, 0, _str("pf/t") +
                            props5(prop(P_PAYLOAD_FORMAT, 0)) +
                            b"\xff\x00\xfe")], "payload format 0")


def test_3_1_3_2_will_delay_dropped_rest_in_order():
    # 3.1.3.2: the Will Delay Interval is the server's, not the message's:
    # left out of the published will, every other will property kept in
    # its order (Mosquitto's 07-will-properties, byte for byte).
    sent = (prop(P_USER, ("key1", "value1")) +
            prop(P_RESPONSE_TOPIC, "response/topic") +
            prop(P_CORRELATION_DATA, b"data") + prop(P_WILL_DELAY, 0) +
            prop(P_PAYLOAD_FORMAT, 1) +
            prop(P_CONTENT_TYPE, "application/test") +
            prop(P_USER, ("key2", "value2")))
    got_props = sent.replace(prop(P_WILL_DELAY, 0), b"")
    with daemon() as d:
        w = Raw5(d.port, "watch")
        check(w.subscribe(1, [("wo/#", 0)]) == [0], "SUBACK")
        r = Raw5(d.port, "dying", will=("wo/t", "will payload", 0, False),
                 will_props=sent)
        r.close()
        p = w.read()
        want = (3, 0, _str("wo/t") + props5(got_props) + b"will payload")
        check(p == want, "will %r, want %r" % (p, want))


fhtest.run_cases(globals())
