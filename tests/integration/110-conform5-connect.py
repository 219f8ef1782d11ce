#!/usr/bin/python3
"""MQTT 5.0 conformance, CONNECT/CONNACK/DISCONNECT/AUTH (OASIS MQTT 5.0,
sections 3.1, 3.2, 3.14, 3.15, 4.13): one case per normative statement or
small group, raw packets, exact reason codes."""
import fhtest
from conformtest import CONF, PINGREQ, PINGRESP, closed_silently, drain
from fhtest import Daemon, check
from mqtttest import (Raw, Raw5, _str, connect5, connect5_pkt, connect_pkt,
                      disconnect5_pkt, packet, parse_ack5, parse_reason5,
                      prop, prop_get, props5, publish5_pkt, subscribe5_pkt,
                      subscribe_pkt, P_ASSIGNED_CLIENT_ID, P_AUTH_METHOD,
                      P_REASON_STRING, P_REQUEST_PROBLEM_INFO,
                      P_RETAIN_AVAILABLE, P_SESSION_EXPIRY, P_USER)

NO_RETAIN = CONF.replace("[broker]\n", "[broker]\nretain = false\n")
READ_ONLY = CONF.replace("anonymous_publish = true", "anonymous_publish = "
                         "false")


def refused(r, what, reasons=None):
    """The server refuses a CONNECT: a CONNACK with a reason of 0x80 or
    more (one of reasons when given) and the close, or the close alone
    [MQTT-4.13.1-1]; never a DISCONNECT [MQTT-3.14.0-1]."""
    try:
        p = r.read()
    except EOFError:
        check(reasons is None, "%s: closed without CONNACK, want one of "
              "%r" % (what, reasons))
        return None
    check(p is not None and p[0] == 2, "%s: want CONNACK or close, got %r"
          % (what, p))
    check(p[2][0] == 0, "%s: session present on a refusal "
          "[MQTT-3.2.2-6]: %r" % (what, p))
    reason = p[2][1]
    check(reason >= 0x80 and (reasons is None or reason in reasons),
          "%s: CONNACK reason 0x%02x" % (what, reason))
    check(r.closed(), "%s: not closed after CONNACK 0x%02x" % (what, reason))
    return reason


def connect5_raw(flags, payload, props=b"", keepalive=60):
    return packet(0x10, _str("MQTT") + bytes([5, flags]) +
                  keepalive.to_bytes(2, "big") + props5(props) + payload)


def test_3_1_2_3_reserved_flag_malformed():
    # [MQTT-3.1.2-3]: the reserved flag MUST be 0, else Malformed Packet:
    # CONNACK 0x81 (or none) and close.
    with Daemon(CONF) as d:
        r = Raw(d.port)
        r.send(connect5_raw(0x03, _str("c")))
        refused(r, "reserved flag", (0x81,))


def test_3_1_2_will_flag_consistency():
    # [MQTT-3.1.2-11]: Will Flag 0: Will QoS 0 and [MQTT-3.1.2-13] Will
    # Retain 0; [MQTT-3.1.2-12]: Will QoS 3 is malformed.
    with Daemon(CONF) as d:
        for flags in (0x0A, 0x12, 0x22):
            r = Raw(d.port)
            r.send(connect5_raw(flags, _str("c")))
            refused(r, "flags 0x%02x" % flags, (0x81,))
        r = Raw(d.port)
        r.send(connect5_raw(0x1E, _str("c") + props5(b"") + _str("w") +
                            _str("m")))
        refused(r, "will QoS 3", (0x81,))


def test_3_1_3_6_7_empty_client_id_assigned_even_without_clean_start():
    # [MQTT-3.1.3-6], [MQTT-3.1.3-7]: a zero-length client id gets a
    # unique one, returned as Assigned Client Identifier; 5.0 does not
    # tie this to Clean Start. [MQTT-3.2.2-16].
    with Daemon(CONF) as d:
        ids = []
        for clean in (True, False, True):
            r, sp, reason, props = connect5(d.port, "", clean=clean)
            check(reason == 0 and not sp, "clean %r: CONNACK 0x%02x sp %r"
                  % (clean, reason, sp))
            a = prop_get(props, P_ASSIGNED_CLIENT_ID)
            check(a, "no Assigned Client Identifier: %r" % props)
            ids.append(a)
            r.close()
        check(len(set(ids)) == 3, "assigned ids repeat: %r" % ids)


def test_3_1_4_6_nothing_after_a_refused_connect_is_processed():
    # [MQTT-3.1.4-6]: after a refused CONNECT, nothing but AUTH is
    # processed: a retained PUBLISH in the same write is not stored.
    with Daemon(CONF) as d:
        r = Raw(d.port)
        r.send(connect5_pkt("x", props=prop(P_AUTH_METHOD, "SCRAM-SHA-1")) +
               publish5_pkt("after/refused", "x", retain=True))
        refused(r, "auth method", (0x8C,))
        s = Raw5(d.port, "check")
        check(s.subscribe(1, [("after/#", 0)]) == [0], "SUBACK")
        check(drain(s) == [], "PUBLISH after a refused CONNECT processed")


def test_3_2_2_session_present():
    # [MQTT-3.2.2-2]: Clean Start 1: Session Present 0;
    # [MQTT-3.2.2-3]: Clean Start 0 with a session: 1, without one: 0.
    exp = prop(P_SESSION_EXPIRY, 300)
    with Daemon(CONF) as d:
        for clean, sp in ((False, False), (False, True), (True, False),
                          (False, True)):
            r, got, reason, _ = connect5(d.port, "sp", clean=clean,
                                         props=exp)
            check(reason == 0 and got == sp, "clean %r: sp %r, want %r" %
                  (clean, got, sp))
            r.send(disconnect5_pkt())
            check(r.closed(), "DISCONNECT")


def test_3_2_2_13_will_retain_without_retain_support_0x9a():
    # [MQTT-3.2.2-13]: a will with Will Retain 1 when retained messages
    # are not supported: refused, CONNACK 0x9A, close.
    with Daemon(NO_RETAIN) as d:
        r = Raw(d.port)
        r.send(connect5_pkt("w", will=("w/t", "m", 0, True)))
        refused(r, "will retain", (0x9A,))


def test_3_2_2_14_retain_not_available_announced_and_enforced():
    # 3.2.2.3.5: without retained messages the CONNACK says Retain
    # Available 0 [MQTT-3.2.2-14], and a PUBLISH with RETAIN 1 is
    # answered with DISCONNECT 0x9A.
    with Daemon(NO_RETAIN) as d:
        r = Raw5(d.port, "r")
        check(prop_get(r.connack_props, P_RETAIN_AVAILABLE) == 0,
              "Retain Available: %r" % r.connack_props)
        r.send(publish5_pkt("a", "x", retain=True))
        check(r.disconnected() == 0x9A, "want DISCONNECT 0x9A")


def test_3_1_2_29_no_reason_string_when_problem_info_0():
    # [MQTT-3.1.2-29]: Request Problem Information 0: no Reason String and
    # no User Property on any packet but PUBLISH, CONNACK and DISCONNECT:
    # here a PUBACK 0x87 (anonymous publish refused) and a SUBACK.
    with Daemon(READ_ONLY) as d:
        r = Raw5(d.port, "rp", props=prop(P_REQUEST_PROBLEM_INFO, 0))
        r.send(publish5_pkt("a", "x", qos=1, mid=3))
        p = r.read()
        t, mid, reason, props = parse_ack5(p)
        check((t, mid, reason) == (4, 3, 0x87), "PUBACK %r" % (p,))
        check(not [k for k, _ in props if k in (P_REASON_STRING, P_USER)],
              "PUBACK carries problem information: %r" % props)
        r.send(subscribe5_pkt(4, [("a/#", 1)]))
        p = r.read()
        check(p is not None and p[0] == 9 and p[2][2] == 0,
              "SUBACK with properties: %r" % (p,))
        # the default (1): the reason string may be there
        r2 = Raw5(d.port, "rp2")
        r2.send(publish5_pkt("a", "x", qos=1, mid=3))
        check(parse_ack5(r2.read())[2] == 0x87, "PUBACK 0x87")


def test_3_14_0_1_no_disconnect_before_connack():
    # [MQTT-3.14.0-1]: the server MUST NOT send DISCONNECT before a
    # CONNACK with a reason below 0x80: a packet before CONNECT is
    # closed silently, a bad 5.0 CONNECT gets CONNACK or the close.
    with Daemon(CONF) as d:
        r = Raw(d.port)
        r.send(publish5_pkt("a", "x"))
        check(closed_silently(r), "PUBLISH before CONNECT")
        r = Raw(d.port)
        # a duplicate property: protocol error
        r.send(connect5_pkt("c", props=prop(P_SESSION_EXPIRY, 1) * 2))
        refused(r, "duplicate property", (0x82,))
        r = Raw(d.port)
        # a property length past the packet: malformed
        r.send(connect5_raw(0x02, _str("c"), props=b"\x11"))
        refused(r, "property length", (0x81,))


def test_3_1_0_2_second_connect_protocol_error():
    # [MQTT-3.1.0-2]: a second CONNECT is a Protocol Error: DISCONNECT
    # 0x82 [MQTT-4.13.1-1].
    with Daemon(CONF) as d:
        r = Raw5(d.port, "twice")
        r.send(connect5_pkt("twice"))
        check(r.disconnected() == 0x82, "want DISCONNECT 0x82")


def test_3_15_auth_without_method_protocol_error():
    # 4.12: AUTH from a client that gave no
    # Authentication Method is a Protocol Error: DISCONNECT 0x82.
    with Daemon(CONF) as d:
        r = Raw5(d.port, "auth")
        r.send(packet(0xF0, b"\x18\x00"))
        check(r.disconnected() == 0x82, "want DISCONNECT 0x82")
        # AUTH's reserved flags MUST be 0 [MQTT-3.15.1-1]
        r = Raw5(d.port, "auth2")
        r.send(packet(0xF1, b"\x18\x00"))
        check(r.disconnected() in (0x81, 0x82), "bad AUTH flags")


def test_3_14_4_3_will_kept_on_disconnect_with_an_error_reason():
    # [MQTT-3.14.4-3]: only DISCONNECT 0x00 discards the will; one with
    # another reason (0x04, or an error such as 0x80) leaves it, so it is
    # published when the connection closes ([MQTT-3.1.2-8]).
    with Daemon(CONF) as d:
        s = Raw5(d.port, "ws")
        check(s.subscribe(1, [("will/#", 0)]) == [0], "SUBACK")
        for i, reason in enumerate((0x80, 0x04, 0x00)):
            w = Raw5(d.port, "w%d" % i, will=("will/%d" % i, "x", 0, False))
            w.send(disconnect5_pkt(reason))
            check(closed_silently(w), "DISCONNECT 0x%02x" % reason)
        got = [p[2][2:8].decode() for p in drain(s)]
        check(got == ["will/0", "will/1"], "wills: %r" % got)


def test_3_14_1_1_disconnect_reserved_flags_malformed():
    # [MQTT-3.14.1-1]: DISCONNECT's reserved flags are 0: else Malformed
    # Packet, DISCONNECT 0x81 (and the will goes out).
    with Daemon(CONF) as d:
        r = Raw5(d.port, "df")
        r.send(packet(0xE2, b"\x00"))
        check(r.disconnected() == 0x81, "want DISCONNECT 0x81")


def test_3_1_2_22_keepalive_pings_answered():
    # [MQTT-3.12.4-1]: PINGREQ gets PINGRESP in 5.0 too.
    with Daemon(CONF) as d:
        r = Raw5(d.port, "ping")
        r.send(PINGREQ)
        check(r.read() == PINGRESP, "PINGRESP")


def test_3_1_2_2_v5_and_v311_share_the_broker():
    # A 3.1.1 subscriber and a 5.0 publisher: the message crosses,
    # without properties for 3.1.1 ([MQTT-3.3.2-3]).
    with Daemon(CONF) as d:
        s = Raw(d.port, connect_pkt("s311"))
        s.send(subscribe_pkt(1, [("mix", 0)]))
        check(s.read() == (9, 0, b"\x00\x01\x00"), "SUBACK")
        p = Raw5(d.port, "p5")
        p.send(publish5_pkt("mix", "x", qos=1, mid=1,
                            props=prop(P_USER, ("k", "v"))))
        check(parse_ack5(p.read())[:3] == (4, 1, 0), "PUBACK")
        check(drain(s) == [(3, 0, _str("mix") + b"x")], "3.1.1 copy")


BAD_CONNECT_PROPS = [
    # 3.1.2.11: value 0 is a Protocol Error
    ("Receive Maximum 0", prop(0x21, 0), b"", 0x82),
    ("Maximum Packet Size 0", prop(0x27, 0), b"", 0x82),
    # values other than 0 and 1
    ("Request Problem Information 2", prop(0x17, 2), b"", 0x82),
    ("Request Response Information 2", prop(0x19, 2), b"", 0x82),
    # Authentication Data without a method [MQTT-3.1.2.11.10]
    ("Authentication Data alone", prop(0x16, b"x"), b"", 0x82),
    # a property twice
    ("Session Expiry twice", prop(0x11, 1) + prop(0x11, 2), b"", 0x82),
    # 2.2.2.2: not a CONNECT property: malformed
    ("Topic Alias in CONNECT", prop(0x23, 1), b"", 0x81),
    ("Payload Format in CONNECT", prop(0x01, 1), b"", 0x81),
    # will properties: Payload Format 0/1 only, no Topic Alias, a
    # Response Topic without wildcards (3.1.3.2.5, [MQTT-3.3.2-14])
    ("will Payload Format 2", b"", prop(0x01, 2), 0x82),
    ("will Topic Alias", b"", prop(0x23, 1), 0x81),
    ("will Response Topic a/#", b"", prop(0x08, "a/#"), 0x82),
]


def test_3_1_2_11_bad_connect_properties_refused():
    # 3.1.2.11 and 3.1.3.2: each bad CONNECT or will property: CONNACK
    # with its reason (0x82 Protocol Error, 0x81 Malformed Packet), close
    # [MQTT-4.13.1-1].
    with Daemon(CONF) as d:
        for what, ps, wps, reason in BAD_CONNECT_PROPS:
            r = Raw(d.port)
            r.send(connect5_pkt("c", props=ps, will_props=wps,
                                will=("w", "m", 0, False) if wps else None))
            refused(r, what, (reason,))


fhtest.run_cases(globals())
