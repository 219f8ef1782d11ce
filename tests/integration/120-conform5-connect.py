#!/usr/bin/python3
"""MQTT 5.0 conformance, CONNECT/CONNACK/DISCONNECT/AUTH (OASIS MQTT 5.0,
sections 3.1, 3.2, 3.14, 3.15, 4.13): one case per normative statement or
small group, raw packets, byte-exact answers."""
import re

import fhtest
from conform5test import (after_connect, daemon, drain,
                          expect_connack_refused, expect_disconnect, pub)
from fhtest import check
from mqtttest import (P_ASSIGNED_CLIENT_ID, P_MAXIMUM_PACKET_SIZE,
                      P_RECEIVE_MAXIMUM, P_REQUEST_PROBLEM_INFO,
                      P_SERVER_KEEPALIVE, P_SESSION_EXPIRY,
                      P_TOPIC_ALIAS_MAXIMUM, P_WILL_DELAY, P_PAYLOAD_FORMAT,
                      P_AUTH_METHOD, P_USER, Raw, Raw5, _str, connect5,
                      connect5_pkt, disconnect5_pkt, packet, parse_publish5,
                      prop, props5, publish5_pkt, session_present5)

# What the defaults announce: Mosquitto 2's default CONNACK, byte for
# byte (its test suite compares CONNACKs so). Subscription Identifiers and
# Shared Subscriptions Available are 1 when absent (3.2.2.3.12,
# 3.2.2.3.13); the default max_packet_size (1M) is kept but, as
# Mosquitto's message_size_limit, not announced: only one set in the
# file is (test_max_packet_size_announced_when_set).
DEFAULT_CONNACK_PROPS = (prop(P_TOPIC_ALIAS_MAXIMUM, 10) +
                         prop(P_RECEIVE_MAXIMUM, 20))


def connect_raw(flags=0x02, props=b"", payload=None, keepalive=60):
    if payload is None:
        payload = _str("c")
    return packet(0x10, _str("MQTT") + bytes([5, flags]) +
                  keepalive.to_bytes(2, "big") + props5(props) + payload)


def test_3_2_2_connack_exact_bytes():
    # [MQTT-3.2.2-1] reserved flags 0; [MQTT-3.2.2-2] Clean Start 1:
    # session present 0; 3.2.2.3: the properties the server announces
    # (those not at their defaults), each once.
    with daemon() as d:
        r = Raw(d.port)
        r.send(connect5_pkt("exact"))
        p = r.read()
        want = (2, 0, b"\x00\x00" + props5(DEFAULT_CONNACK_PROPS))
        check(p == want, "CONNACK %r, want %r" % (p, want))


def test_max_packet_size_announced_when_set():
    # a max_packet_size the operator sets is told to 5.0 clients (3.2.2.3.6)
    with daemon("max_packet_size = 64K") as d:
        r = Raw(d.port)
        r.send(connect5_pkt("mps"))
        p = r.read()
        want = (2, 0, b"\x00\x00" + props5(
            prop(P_TOPIC_ALIAS_MAXIMUM, 10) +
            prop(P_MAXIMUM_PACKET_SIZE, 65536) + prop(P_RECEIVE_MAXIMUM, 20)))
        check(p == want, "CONNACK %r, want %r" % (p, want))


def test_default_max_packet_size_still_enforced():
    # the default 1M, not announced, still closes the connection of a
    # client that goes over it (DISCONNECT 0x95, as an announced one)
    with daemon() as d:
        r = Raw(d.port)
        r.send(connect5_pkt("big"))
        check(r.read()[0] == 2, "CONNACK")
        # the fixed header says it: the body is never read
        n, var = 1024 * 1024 + 10, b""
        while True:
            n, byte = n >> 7, n & 0x7f
            var += bytes([byte | (0x80 if n else 0)])
            if not n:
                break
        r.send(b"\x30" + var + _str("big/x"))
        p = r.read()
        check(p is not None and p[0] == 14 and p[2][:1] == b"\x95",
              "want DISCONNECT 0x95, got %r" % (p if p is None else p[:2],))


def test_3_2_2_connack_as_mosquitto_configured_alike():
    # 3.2.2.3: with Mosquitto's limits (20 in flight, 10 aliases, no
    # packet limit but the protocol's) the CONNACK is Mosquitto's, byte
    # for byte: Topic Alias Maximum, Receive Maximum; Server Keep Alive
    # first when max_keepalive lowers it [MQTT-3.2.2-21]; an Assigned
    # Client Identifier after the alias maximum [MQTT-3.2.2-16].
    with daemon("max_packet_size = 268435455\nmax_keepalive = 30") as d:
        r = Raw(d.port)
        r.send(connect5_pkt("m", keepalive=20))
        p = r.read()
        check(p == (2, 0, bytes.fromhex("0000062200 0a210014".replace(
            " ", ""))), "CONNACK %r" % (p,))
        r = Raw(d.port)
        r.send(connect5_pkt("m", keepalive=60))
        p = r.read()
        check(p == (2, 0, bytes.fromhex("0000091300 1e22000a210014".replace(
            " ", ""))), "CONNACK with Server Keep Alive %r" % (p,))
        r = Raw(d.port)
        r.send(connect5_pkt("", keepalive=20))
        p = r.read()
        # Mosquitto's shape: "auto-" and a UUID (its 01-connect-zero-
        # length-id compares everything up to the random part)
        check(p is not None and p[0] == 2 and len(p[2]) == 53 and
              p[2][:13] == bytes.fromhex("00003222000a120029") + b"auto" and
              p[2][-3:] == bytes.fromhex("210014"), "CONNACK with an "
              "assigned id %r" % (p,))
        check(re.fullmatch(r"auto-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
                           r"[0-9a-f]{4}-[0-9a-f]{12}",
                           p[2][9:50].decode()) is not None,
              "assigned id %r" % p[2][9:50])


def test_3_1_2_3_reserved_flag_malformed():
    # [MQTT-3.1.2-3]: the reserved flag MUST be 0, else malformed:
    # CONNACK 0x81, closed [MQTT-3.2.2-7].
    with daemon() as d:
        expect_connack_refused(d.port, connect_raw(flags=0x03), 0x81,
                               "reserved flag")


def test_3_1_2_11_will_flags_without_will():
    # [MQTT-3.1.2-11, -13]: Will Flag 0: Will QoS and Will Retain MUST be
    # 0; [MQTT-3.1.2-12]: Will QoS 3 is malformed.
    with daemon() as d:
        for flags in (0x02 | 0x08, 0x02 | 0x20, 0x02 | 0x04 | 0x18):
            expect_connack_refused(d.port, connect_raw(
                flags=flags, payload=props5(b"") + _str("c") + _str("w") +
                _str("m") if flags & 4 else None), 0x81,
                "flags 0x%02x" % flags)


def test_3_1_2_receive_maximum_zero_protocol_error():
    # 3.1.2.11.3: a Receive Maximum of 0 is a protocol error; 3.1.2.11.4:
    # so is a Maximum Packet Size of 0; 2.2.2.2: a property twice.
    with daemon() as d:
        for props, what in ((prop(P_RECEIVE_MAXIMUM, 0), "receive max 0"),
                            (prop(P_MAXIMUM_PACKET_SIZE, 0), "max packet 0"),
                            (prop(P_SESSION_EXPIRY, 5) +
                             prop(P_SESSION_EXPIRY, 5), "session expiry "
                             "twice")):
            expect_connack_refused(d.port, connect5_pkt("c", props=props),
                                   0x82, what)


def test_2_2_2_property_not_for_connect_malformed():
    # 2.2.2.2: a property that CONNECT may not carry (Payload Format
    # Indicator) makes the packet malformed.
    with daemon() as d:
        expect_connack_refused(d.port, connect5_pkt(
            "c", props=prop(P_PAYLOAD_FORMAT, 1)), 0x81, "payload format")


def test_3_1_3_7_assigned_client_identifier():
    # [MQTT-3.1.3-6, -7]: a zero-length id gets a unique one, said in
    # Assigned Client Identifier [MQTT-3.2.2-16]; 5.0 allows it with
    # Clean Start 0 too.
    with daemon() as d:
        ids = []
        for clean in (True, False, True):
            r, sp, reason, props = connect5(d.port, "", clean=clean)
            check(reason == 0 and not sp, "CONNACK 0x%02x sp %r" % (
                reason, sp))
            got = [v for k, v in props if k == P_ASSIGNED_CLIENT_ID]
            check(len(got) == 1 and got[0], "assigned id: %r" % props)
            ids.append(got[0])
            r.close()
        check(len(set(ids)) == 3, "ids not unique: %r" % ids)


def test_3_2_2_assigned_id_only_when_assigned():
    # [MQTT-3.2.2-16]: only a server-assigned id is sent back.
    with daemon() as d:
        r, _, _, props = connect5(d.port, "mine")
        check(all(k != P_ASSIGNED_CLIENT_ID for k, _ in props),
              "assigned id for a client id: %r" % props)


def test_3_1_2_4_clean_start_and_session_expiry():
    # [MQTT-3.1.2-4] Clean Start 1 discards a session; [MQTT-3.1.2-5]
    # Clean Start 0 resumes one; [MQTT-3.1.2-23] Session Expiry > 0 keeps
    # it past the connection; 0 (absent) ends it with the connection;
    # [MQTT-3.2.2-2, -3] Session Present says which.
    keep = prop(P_SESSION_EXPIRY, 300)
    with daemon() as d:
        check(not session_present5(d.port, "s", clean=False, props=keep),
              "first: session present")
        check(session_present5(d.port, "s", clean=False, props=keep),
              "expiry 300: no session present")
        check(not session_present5(d.port, "s", clean=True, props=keep),
              "Clean Start 1: session present")
        check(session_present5(d.port, "s", clean=False),
              "after Clean Start 1 with expiry: not kept")
        # that one had expiry 0: gone with its connection
        check(not session_present5(d.port, "s", clean=False),
              "expiry 0: session kept")


def test_3_1_2_23_session_state_kept():
    # [MQTT-3.1.2-23]: the kept session has its subscriptions and
    # queued QoS 1 messages.
    keep = prop(P_SESSION_EXPIRY, 300)
    with daemon() as d:
        r = Raw5(d.port, "ks", clean=False, props=keep)
        check(r.subscribe(1, [("ks/t", 1)]) == [1], "SUBACK")
        r.send(disconnect5_pkt())
        check(r.closed(), "not closed after DISCONNECT")
        p = Raw5(d.port, "pubr")
        pub(p, "ks/t", "queued", mid=1)
        r, sp, reason, _ = connect5(d.port, "ks", clean=False, props=keep)
        check(sp and reason == 0, "session not resumed")
        m = parse_publish5(r.read())
        check((m["topic"], m["payload"], m["qos"]) == ("ks/t", b"queued", 1),
              "queued message %r" % m)


def test_3_2_2_21_server_keep_alive():
    # [MQTT-3.2.2-21, -22]: a Server Keep Alive the server sends is the
    # keep alive the client must use; max_keepalive caps a larger one and
    # a 0 (none).
    with daemon("max_keepalive = 30") as d:
        for ka, want in ((60, 30), (0, 30), (20, None), (30, None)):
            r, _, reason, props = connect5(d.port, "ka", keepalive=ka)
            got = [v for k, v in props if k == P_SERVER_KEEPALIVE]
            check(reason == 0 and got == ([want] if want else []),
                  "keep alive %d: Server Keep Alive %r" % (ka, got))
            r.close()


def test_3_1_2_24_client_maximum_packet_size_respected():
    # [MQTT-3.1.2-24]: the server MUST NOT send a packet over the
    # client's Maximum Packet Size; the message is dropped for it
    # [MQTT-3.1.2-25], the next one that fits arrives.
    with daemon() as d:
        r = Raw5(d.port, "small", props=prop(P_MAXIMUM_PACKET_SIZE, 40))
        check(r.subscribe(1, [("mp/#", 0)]) == [0], "SUBACK")
        p = Raw5(d.port, "big")
        pub(p, "mp/t", "x" * 100, mid=1)
        pub(p, "mp/t", "fits", mid=2)
        got = drain(r)
        check(got == [(3, 0, _str("mp/t") + b"\x00fits")],
              "to the small client: %r" % got)


def test_3_1_2_28_problem_information_0():
    # [MQTT-3.1.2-29]: Request Problem Information 0: no Reason String or
    # User Property on any packet but PUBLISH, CONNACK, DISCONNECT. A
    # refused publish's PUBACK is then the bare reason.
    with daemon(anonymous_publish=False) as d:
        r = Raw5(d.port, "np", props=prop(P_REQUEST_PROBLEM_INFO, 0))
        r.send(publish5_pkt("np/t", "x", qos=1, mid=3))
        p = r.read()
        check(p == (4, 0, b"\x00\x03\x87"), "PUBACK %r" % (p,))
        check(r.subscribe(4, [("np/#", 1)]) == [1], "SUBACK")


def test_3_1_3_9_will_at_the_earlier_of_delay_and_expiry():
    # [MQTT-3.1.3-9]: the will goes when the Will Delay Interval passes
    # or the session ends, whichever is first: a 1 s session with a
    # 600 s will delay gets its will when the session ends.
    with daemon() as d:
        w = Raw5(d.port, "watch")
        check(w.subscribe(1, [("will/#", 0)]) == [0], "SUBACK")
        r = Raw5(d.port, "dying", clean=False,
                 props=prop(P_SESSION_EXPIRY, 1),
                 will=("will/t", "gone", 0, False),
                 will_props=prop(P_WILL_DELAY, 600))
        r.close()
        m = parse_publish5(w.read(15))
        check((m["topic"], m["payload"]) == ("will/t", b"gone"),
              "will %r" % m)


def test_3_1_2_8_will_without_delay_at_once():
    # [MQTT-3.1.2-8]: a connection closed without DISCONNECT publishes
    # the will; no delay, a session kept: at once (before a PINGRESP to
    # the watcher that asked after the close was seen).
    with daemon() as d:
        w = Raw5(d.port, "watch")
        check(w.subscribe(1, [("will/#", 0)]) == [0], "SUBACK")
        r = Raw5(d.port, "dying", clean=False,
                 props=prop(P_SESSION_EXPIRY, 300),
                 will=("will/now", "gone", 0, False))
        r.close()
        m = parse_publish5(w.read())
        check((m["topic"], m["payload"]) == ("will/now", b"gone"),
              "will %r" % m)


def test_3_14_4_3_disconnect_0_drops_will():
    # [MQTT-3.14.4-3]: DISCONNECT 0x00: the will is not published.
    with daemon() as d:
        w = Raw5(d.port, "watch")
        check(w.subscribe(1, [("will/#", 0)]) == [0], "SUBACK")
        r = Raw5(d.port, "leaving", will=("will/x", "no", 0, False))
        r.send(disconnect5_pkt(0))
        check(r.closed(), "not closed")
        # a later publish arrives first: the will was never routed
        p = Raw5(d.port, "p")
        pub(p, "will/after", "x", mid=1)
        m = parse_publish5(w.read())
        check(m["topic"] == "will/after", "got %r" % m)


def test_3_14_2_2_session_expiry_after_zero_protocol_error():
    # [MQTT-3.14.2-2]: Session Expiry 0 in CONNECT, non-zero in
    # DISCONNECT: protocol error, the server's DISCONNECT 0x82.
    with daemon() as d:
        after_connect(d.port, disconnect5_pkt(0, prop(P_SESSION_EXPIRY, 10)),
                      0x82, "expiry in DISCONNECT")


def test_3_14_disconnect_may_lower_session_expiry():
    # 3.14.2.2.2: DISCONNECT sets a new Session Expiry (0: ends it).
    keep = prop(P_SESSION_EXPIRY, 300)
    with daemon() as d:
        r = Raw5(d.port, "lower", clean=False, props=keep)
        r.send(disconnect5_pkt(0, prop(P_SESSION_EXPIRY, 0)))
        check(r.closed(), "not closed")
        check(not session_present5(d.port, "lower", clean=False),
              "session kept after DISCONNECT expiry 0")


def test_3_1_4_3_takeover_disconnect_0x8e():
    # [MQTT-3.1.4-3]: the same client id again: the old connection is
    # ended with DISCONNECT 0x8E (session taken over).
    with daemon() as d:
        old = Raw5(d.port, "twin")
        Raw5(d.port, "twin")
        # the server's own reason: with a Reason String (paho-mqtt 1.6
        # reports the code only when properties follow it)
        check(old.disconnected() == 0x8E, "takeover: not DISCONNECT 0x8E")


def test_3_1_0_2_second_connect_protocol_error():
    # [MQTT-3.1.0-2]: a second CONNECT is a protocol error: DISCONNECT
    # 0x82.
    with daemon() as d:
        after_connect(d.port, connect5_pkt("again"), 0x82, "second CONNECT")


def test_3_15_auth_without_method_protocol_error():
    # [MQTT-3.15.0-?] 4.12: AUTH on a connection whose CONNECT had no
    # Authentication Method is a protocol error: DISCONNECT 0x82.
    with daemon() as d:
        after_connect(d.port, packet(0xF0, b"\x18\x00"), 0x82, "AUTH")
        after_connect(d.port, packet(0xF0), 0x82, "empty AUTH")


def test_4_12_0_1_unsupported_auth_method_0x8c():
    # [MQTT-4.12.0-1]: an Authentication Method the server does not
    # support: CONNACK 0x8C, closed.
    with daemon() as d:
        expect_connack_refused(d.port, connect5_pkt(
            "c", props=prop(P_AUTH_METHOD, "SCRAM-SHA-1")), 0x8C, "method")


def test_3_1_2_user_properties_accepted():
    # 3.1.2.11.8: User Properties in CONNECT, any number, same name twice.
    with daemon() as d:
        r, _, reason, _ = connect5(d.port, "up", props=prop(
            P_USER, ("a", "1")) + prop(P_USER, ("a", "2")))
        check(reason == 0, "CONNACK 0x%02x" % reason)


def test_3_14_1_1_reserved_disconnect_flags_malformed():
    # [MQTT-3.14.1-1]: DISCONNECT flags are reserved (0): malformed,
    # the will goes out (an abnormal end).
    with daemon() as d:
        w = Raw5(d.port, "watch")
        check(w.subscribe(1, [("will/#", 0)]) == [0], "SUBACK")
        r = Raw5(d.port, "badd", will=("will/bad", "w", 0, False))
        r.send(packet(0xE1, b"\x00"))
        expect_disconnect(r, 0x81, "DISCONNECT flags")
        m = parse_publish5(w.read())
        check(m["topic"] == "will/bad", "will %r" % m)


def test_3_1_2_9_password_without_user_name():
    # 3.1.2.9 (5.0): a Password without a User Name is allowed (3.1.1
    # forbade it): accepted here, the client anonymous.
    with daemon() as d:
        r, _, reason, _ = connect5(d.port, "pwonly", pw="secret")
        check(reason == 0, "CONNACK 0x%02x" % reason)


def test_2_1_2_server_bound_types_and_reserved_flags():
    # 2.1.2: CONNACK, SUBACK, UNSUBACK, PINGRESP from a client are a
    # protocol error (0x82); type 0 and wrong fixed-header flags
    # (PINGREQ 0xC1) are malformed (0x81) [MQTT-2.1.3-1].
    with daemon() as d:
        for pkt, code, what in (
                (packet(0x20, b"\x00\x00\x00"), 0x82, "CONNACK"),
                (packet(0x90, b"\x00\x01\x00\x00"), 0x82, "SUBACK"),
                (packet(0xB0, b"\x00\x01\x00\x00"), 0x82, "UNSUBACK"),
                (packet(0xD0), 0x82, "PINGRESP"),
                (packet(0x00), 0x81, "type 0"),
                (packet(0xC1), 0x81, "PINGREQ flags")):
            after_connect(d.port, pkt, code, what)


def test_3_14_2_1_disconnect_reason_must_be_known():
    # [MQTT-3.14.2-1]: a DISCONNECT reason code not in the table is a
    # protocol error: the server's DISCONNECT 0x82; a property length
    # past the packet is malformed.
    with daemon() as d:
        after_connect(d.port, disconnect5_pkt(0x05), 0x82, "reason 0x05")
        after_connect(d.port, packet(0xE0, b"\x00\x05"), 0x81,
                      "property length")


fhtest.run_cases(globals())
