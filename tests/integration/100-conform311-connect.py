#!/usr/bin/python3
"""MQTT 3.1.1 conformance, CONNECT/CONNACK/DISCONNECT (OASIS MQTT 3.1.1,
sections 3.1, 3.2, 3.14): one case per normative statement or small
group, raw packets, byte-exact answers."""
import fhtest
from conformtest import (CONF, DISCONNECT, PINGREQ, PINGRESP, as_tuple,
                         closed_silently, drain, pub1)
from fhtest import Daemon, check
from mqtttest import (Raw, _str, connect_pkt, packet, publish_pkt,
                      subscribe_pkt)

CONNACK_OK = (2, 0, b"\x00\x00")


def connect_body(cid="c", flags=0x02, keepalive=60, payload=None,
                 proto="MQTT", level=4):
    if payload is None:
        payload = _str(cid)
    return packet(0x10, _str(proto) + bytes([level, flags]) +
                  keepalive.to_bytes(2, "big") + payload)


def expect_connack_close(port, pkt, code):
    r = Raw(port)
    r.send(pkt)
    p = r.read()
    check(p == (2, 0, bytes([0, code])), "want CONNACK %d, got %r" %
          (code, p))
    check(r.closed(), "not closed after CONNACK %d" % code)
    r.close()


def expect_silent_close(port, pkt, what):
    r = Raw(port)
    r.send(pkt)
    check(closed_silently(r), "%s: not closed" % what)
    r.close()


def test_3_1_0_1_first_packet_must_be_connect():
    # [MQTT-3.1.0-1]: the first packet from the client MUST be CONNECT;
    # [MQTT-4.8.0-1]: a protocol violation closes the connection.
    with Daemon(CONF) as d:
        for first in (subscribe_pkt(1, [("a", 0)]), PINGREQ,
                      publish_pkt("a", "x"), packet(0x20, b"\x00\x00"),
                      DISCONNECT):
            expect_silent_close(d.port, first, "first %r" % first[:1])


def test_3_1_0_2_second_connect_closes():
    # [MQTT-3.1.0-2]: a second CONNECT is a protocol violation: no second
    # CONNACK, the connection is closed.
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("twice"))
        check(r.connack == b"\x00\x00", "CONNACK %r" % r.connack)
        r.send(connect_pkt("twice"))
        check(closed_silently(r), "second CONNECT not closed")


def test_3_1_2_1_bad_protocol_name_closed_without_connack():
    # [MQTT-3.1.2-1]: an unknown protocol name: the server MAY disconnect
    # without CONNACK (and must not go on with the connection).
    with Daemon(CONF) as d:
        for name in ("MQTX", "mqtt", "MQIsdpX", ""):
            expect_silent_close(d.port, connect_body(proto=name),
                                "protocol name %r" % name)


def test_3_1_2_2_unsupported_level_connack_1():
    # [MQTT-3.1.2-2]: an unsupported protocol level: CONNACK 0x01 and
    # disconnect.
    with Daemon(CONF) as d:
        for level in (0, 1, 2, 3, 6, 7, 255):
            expect_connack_close(d.port, connect_body(level=level), 1)
        # the 3.1 name with a 3.1.1 level
        expect_connack_close(d.port, connect_body(proto="MQIsdp",
                                                  level=4), 1)


def test_3_1_2_3_reserved_flag_closed():
    # [MQTT-3.1.2-3]: the reserved flag MUST be 0, else disconnect.
    with Daemon(CONF) as d:
        expect_silent_close(d.port, connect_body(flags=0x03), "reserved")
        expect_silent_close(d.port, connect_body(flags=0x01), "reserved")


def test_3_1_2_11_13_15_will_flags_without_will_closed():
    # [MQTT-3.1.2-11], [MQTT-3.1.2-13]: Will Flag 0 means Will QoS 0;
    # [MQTT-3.1.2-15]: and Will Retain 0. [MQTT-3.1.2-14]: Will QoS 3 is
    # invalid.
    with Daemon(CONF) as d:
        for flags in (0x02 | 0x08, 0x02 | 0x10, 0x02 | 0x20, 0x02 | 0x38):
            expect_silent_close(d.port, connect_body(flags=flags),
                                "flags 0x%02x" % flags)
        will = _str("c") + _str("w/t") + _str("gone")
        expect_silent_close(d.port, connect_body(flags=0x02 | 0x04 | 0x18,
                                                 payload=will), "will QoS 3")


def test_3_1_2_9_will_fields_must_be_present():
    # [MQTT-3.1.2-9]: with the Will Flag set, Will Topic and Will Message
    # MUST be in the payload: a payload without them is malformed.
    with Daemon(CONF) as d:
        expect_silent_close(d.port, connect_body(flags=0x06,
                                                 payload=_str("c")),
                            "no will topic")
        expect_silent_close(d.port, connect_body(
            flags=0x06, payload=_str("c") + _str("w/t")), "no will message")


def test_3_1_2_19_21_user_and_password_flags_need_fields():
    # [MQTT-3.1.2-19]: User Name Flag 1: a user name MUST be present;
    # [MQTT-3.1.2-21]: Password Flag 1: a password MUST be present.
    with Daemon(CONF) as d:
        expect_silent_close(d.port, connect_body(flags=0x82,
                                                 payload=_str("c")),
                            "user flag, no user")
        expect_silent_close(d.port, connect_body(
            flags=0xC2, payload=_str("c") + _str("u")),
            "password flag, no password")
        # [MQTT-3.1.2-18], [MQTT-3.1.2-20]: fields without their flags are
        # trailing garbage
        expect_silent_close(d.port, connect_body(
            flags=0x02, payload=_str("c") + _str("u")), "user, no flag")


def test_3_1_2_22_password_without_user_closed():
    # [MQTT-3.1.2-22]: User Name Flag 0 means Password Flag 0.
    with Daemon(CONF) as d:
        expect_silent_close(d.port, connect_body(
            flags=0x42, payload=_str("c") + _str("pw")), "password only")


def test_3_1_3_4_10_11_strings_must_be_utf8():
    # [MQTT-3.1.3-4] client id, [MQTT-3.1.3-10] will topic,
    # [MQTT-3.1.3-11] user name: UTF-8 strings; invalid ones (or U+0000,
    # [MQTT-1.5.3-2]) are malformed: closed.
    bad = b"\xc0\xaf"
    with Daemon(CONF) as d:
        expect_silent_close(d.port, connect_body(payload=_str(bad)),
                            "client id")
        expect_silent_close(d.port, connect_body(payload=_str(b"a\x00b")),
                            "client id with NUL")
        expect_silent_close(d.port, connect_body(
            flags=0x06, payload=_str("c") + _str(bad) + _str("m")),
            "will topic")
        expect_silent_close(d.port, connect_body(
            flags=0x82, payload=_str("c") + _str(bad)), "user name")


def test_3_1_3_5_short_alphanumeric_client_ids_accepted():
    # [MQTT-3.1.3-5]: 1 to 23 bytes of [0-9a-zA-Z] MUST be allowed.
    # A server MAY allow longer ones and others: up to 65535 bytes here.
    ids = ["a", "Z", "0", "0123456789abcdefghijKLM", "x" * 65535,
           "a/b+#$ \u00e9"]
    with Daemon(CONF) as d:
        for cid in ids:
            r = Raw(d.port)
            r.send(connect_pkt(cid))
            check(r.read() == CONNACK_OK, "client id %r refused" % cid)
            r.close()


def test_3_1_3_6_empty_client_id_gets_a_unique_one():
    # [MQTT-3.1.3-6]: a zero-length client id with Clean Session 1: the
    # server assigns a unique one; two such clients are two sessions
    # (neither takes the other over).
    with Daemon(CONF) as d:
        a = Raw(d.port, connect_pkt(""))
        b = Raw(d.port, connect_pkt(""))
        check(a.connack == b"\x00\x00" and b.connack == b"\x00\x00",
              "CONNACK %r %r" % (a.connack, b.connack))
        for r in (a, b):
            r.send(PINGREQ)
            check(r.read() == PINGRESP, "no PINGRESP: taken over?")
        a.close()
        b.close()


def test_3_1_3_8_empty_client_id_persistent_connack_2():
    # [MQTT-3.1.3-7], [MQTT-3.1.3-8]: zero-length client id with Clean
    # Session 0: CONNACK 0x02 and close. [MQTT-3.2.2-4]: Session Present
    # is 0 with a non-zero return code.
    with Daemon(CONF) as d:
        expect_connack_close(d.port, connect_pkt("", clean=False), 2)


def test_3_1_4_5_nothing_after_a_refused_connect_is_processed():
    # [MQTT-3.1.4-5]: after refusing a CONNECT the server MUST NOT process
    # anything the client sent after it: the retained PUBLISH and the
    # SUBSCRIBE in the same write are not acted on.
    with Daemon(CONF) as d:
        r = Raw(d.port)
        r.send(connect_pkt("", clean=False) +
               publish_pkt("after/refused", "x", retain=True) +
               subscribe_pkt(1, [("a", 0)]))
        check(r.read() == (2, 0, b"\x00\x02"), "CONNACK 2")
        check(closed_silently(r), "more than the CONNACK, or not closed")
        s = Raw(d.port, connect_pkt("check"))
        s.send(subscribe_pkt(1, [("after/#", 0)]))
        check(s.read() == (9, 0, b"\x00\x01\x00"), "SUBACK")
        check(drain(s) == [], "the PUBLISH after a refused CONNECT was "
              "processed")


def test_3_1_4_2_same_client_id_disconnects_the_old():
    # [MQTT-3.1.4-2]: a CONNECT with the client id of a connected client:
    # the server MUST disconnect the existing client.
    with Daemon(CONF) as d:
        old = Raw(d.port, connect_pkt("same"))
        new = Raw(d.port, connect_pkt("same"))
        check(new.connack == b"\x00\x00", "CONNACK %r" % new.connack)
        check(closed_silently(old), "the old connection stays")
        new.send(PINGREQ)
        check(new.read() == PINGRESP, "new connection not served")


def test_3_2_2_session_present_flag():
    # [MQTT-3.2.2-1]: Clean Session 1: Session Present 0.
    # [MQTT-3.2.2-2]: Clean Session 0 with a stored session: 1.
    # [MQTT-3.2.2-3]: Clean Session 0 without one: 0.
    # [MQTT-3.1.2-6]: Clean Session 1 discards the stored session.
    with Daemon(CONF) as d:
        steps = [(False, 0), (False, 1), (True, 0), (False, 0),
                 (False, 1)]
        for clean, sp in steps:
            r = Raw(d.port, connect_pkt("sp", clean=clean))
            check(r.connack == bytes([sp, 0]), "clean %r: CONNACK %r, "
                  "want session present %d" % (clean, r.connack, sp))
            r.send(DISCONNECT)
            check(closed_silently(r), "DISCONNECT not closed")


def test_3_1_2_4_5_persistent_session_keeps_subscriptions_and_queue():
    # [MQTT-3.1.2-4]: Clean Session 0 resumes the session;
    # [MQTT-3.1.2-5]: QoS 1/2 messages matching its subscriptions while
    # offline are stored and then delivered; QoS 0 need not be.
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("keep", clean=False))
        r.send(subscribe_pkt(1, [("keep/#", 1)]))
        check(r.read() == (9, 0, b"\x00\x01\x01"), "SUBACK")
        r.send(DISCONNECT)
        check(closed_silently(r), "DISCONNECT")
        p = Raw(d.port, connect_pkt("pub"))
        pub1(p, "keep/a", "one", 7)
        pub1(p, "keep/b", "two", 8)
        r = Raw(d.port, connect_pkt("keep", clean=False))
        check(r.connack == b"\x01\x00", "CONNACK %r" % r.connack)
        got = [r.read_publish(), r.read_publish()]
        check([(g[0], g[1], g[2]) for g in got] ==
              [("keep/a", b"one", 1), ("keep/b", b"two", 1)],
              "queued: %r" % got)
        for g in got:
            r.send(packet(0x40, g[3].to_bytes(2, "big")))
        check(drain(r) == [], "more than queued")
        # and the subscription itself survived
        pub1(p, "keep/c", "three", 9)
        g = r.read_publish()
        check(g[:3] == ("keep/c", b"three", 1), "live: %r" % (g,))


def test_3_1_2_8_will_published_on_abnormal_close():
    # [MQTT-3.1.2-8]: the will is published when the connection closes
    # without DISCONNECT. [MQTT-3.1.2-16]: Will Retain 0: not retained
    # (a later subscriber does not get it). Delivered at the will's QoS
    # to a QoS 2 subscriber ([MQTT-3.1.2-9], [MQTT-3.8.4-6]).
    with Daemon(CONF) as d:
        s = Raw(d.port, connect_pkt("ws"))
        s.send(subscribe_pkt(1, [("will/#", 2)]))
        check(s.read() == (9, 0, b"\x00\x01\x02"), "SUBACK")
        w = Raw(d.port, connect_pkt("w", will=("will/a", "bye", 1, False)))
        w.close()
        p = s.read()
        check(p is not None and p[0] == 3 and p[1] == 2,
              "will at QoS 1: %r" % (p,))
        mid = p[2][8:10]
        check(p[2] == _str("will/a") + mid + b"bye", "will: %r" % (p,))
        s.send(packet(0x40, mid))
        late = Raw(d.port, connect_pkt("late"))
        late.send(subscribe_pkt(1, [("will/#", 0)]))
        check(late.read() == (9, 0, b"\x00\x01\x00"), "SUBACK")
        check(drain(late) == [], "will with retain 0 was retained")


def test_3_1_2_17_will_retain_1_is_retained():
    # [MQTT-3.1.2-17]: Will Retain 1: published as a retained message.
    # [MQTT-3.3.1-9]: the subscriber already there gets it with retain
    # 0; [MQTT-3.3.1-8]: a new subscriber gets it with retain 1.
    with Daemon(CONF) as d:
        s = Raw(d.port, connect_pkt("ws"))
        s.send(subscribe_pkt(1, [("will/#", 0)]))
        check(s.read() == (9, 0, b"\x00\x01\x00"), "SUBACK")
        w = Raw(d.port, connect_pkt("w", will=("will/r", "kept", 0, True)))
        w.close()
        p = s.read()
        check(p == as_tuple(publish_pkt("will/r", "kept")),
              "live will: %r" % (p,))
        late = Raw(d.port, connect_pkt("late"))
        late.send(subscribe_pkt(1, [("will/r", 0)]))
        check(late.read() == (9, 0, b"\x00\x01\x00"), "SUBACK")
        got = drain(late)
        check(got == [as_tuple(publish_pkt("will/r", "kept",
                                           retain=True))],
              "retained will: %r" % (got,))


def test_3_14_4_3_disconnect_discards_the_will():
    # [MQTT-3.14.4-3], [MQTT-3.1.2-10]: after DISCONNECT the will MUST be
    # discarded, not published. [MQTT-3.14.4-1]: the server closes.
    with Daemon(CONF) as d:
        s = Raw(d.port, connect_pkt("ws"))
        s.send(subscribe_pkt(1, [("will/#", 0)]))
        check(s.read() == (9, 0, b"\x00\x01\x00"), "SUBACK")
        w = Raw(d.port, connect_pkt("w", will=("will/d", "no", 0, True)))
        w.send(DISCONNECT)
        check(closed_silently(w), "DISCONNECT not closed")
        # the will would be published when the connection is freed,
        # before another connection's packets are read: a new CONNECT
        # and SUBSCRIBE come after it
        c = Raw(d.port, connect_pkt("x"))
        c.send(subscribe_pkt(1, [("will/#", 0)]))
        check(c.read() == (9, 0, b"\x00\x01\x00"), "SUBACK")
        check(drain(c) == [], "will retained after DISCONNECT")
        check(drain(s) == [], "will published after DISCONNECT")


def test_3_14_1_1_disconnect_reserved_flags_closed():
    # [MQTT-3.14.1-1]: DISCONNECT's reserved flags MUST be 0; and it has
    # no payload. With the will published: it was not a DISCONNECT.
    with Daemon(CONF) as d:
        s = Raw(d.port, connect_pkt("ws"))
        s.send(subscribe_pkt(1, [("will/#", 0)]))
        check(s.read() == (9, 0, b"\x00\x01\x00"), "SUBACK")
        for i, bad in enumerate((packet(0xE1), packet(0xE8),
                                 packet(0xE0, b"\x00"))):
            w = Raw(d.port, connect_pkt("w%d" % i,
                                        will=("will/%d" % i, "x", 0,
                                              False)))
            w.send(bad)
            check(closed_silently(w), "bad DISCONNECT %r kept" % bad)
            p = s.read()
            check(p == as_tuple(publish_pkt("will/%d" % i, "x")),
                  "will after a bad DISCONNECT: %r" % (p,))


def test_3_12_4_1_pingreq_gets_pingresp():
    # [MQTT-3.12.4-1]: PINGREQ is answered with PINGRESP (d0 00).
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("ping"))
        r.s.settimeout(10)
        r.send(PINGREQ * 3)
        for _ in range(3):
            check(r.read() == PINGRESP, "PINGRESP")
        r.send(packet(0xC0, b"\x00"))
        check(closed_silently(r), "PINGREQ with a body not closed")


def test_3_1_2_24_keepalive_is_one_and_a_half_periods():
    # [MQTT-3.1.2-24]: the server disconnects only after one and a half
    # keep alive periods without a packet: a PINGREQ every 2.2 s keeps a
    # 2 s keep alive connection up (the 0.8 s margin absorbs a loaded
    # machine's scheduling).
    import time
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("ka", keepalive=2))
        for _ in range(3):
            time.sleep(2.2)
            r.send(PINGREQ)
            check(r.read() == PINGRESP, "dropped within 1.5 x keep alive")


def test_3_1_2_7_retained_messages_outlive_the_session():
    # [MQTT-3.1.2-7]: retained messages are not part of the session state:
    # they stay when the publisher's (clean) session ends.
    with Daemon(CONF) as d:
        p = Raw(d.port, connect_pkt("p", clean=True))
        pub1(p, "keep/ret", "still", 1, retain=True)
        p.send(DISCONNECT)
        check(closed_silently(p), "DISCONNECT")
        s = Raw(d.port, connect_pkt("s"))
        s.send(subscribe_pkt(1, [("keep/#", 0)]))
        check(s.read() == (9, 0, b"\x00\x01\x00"), "SUBACK")
        check(drain(s) == [as_tuple(publish_pkt("keep/ret", "still",
                                                retain=True))],
              "retained message gone with the session")


fhtest.run_cases(globals())
