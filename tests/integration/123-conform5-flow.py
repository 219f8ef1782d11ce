#!/usr/bin/python3
"""MQTT 5.0 conformance, flow control and limits (OASIS MQTT 5.0, sections
3.3.4, 4.4, 4.6, 4.9, 3.1.2.11.3/4): Receive Maximum both ways, Maximum
Packet Size both ways, resend on resume, ordering. Raw packets,
byte-exact answers."""
import fhtest
from conform5test import daemon, drain, expect_disconnect, pub
from fhtest import check
from mqtttest import (P_MAXIMUM_PACKET_SIZE, P_MESSAGE_EXPIRY,
                      P_RECEIVE_MAXIMUM, P_SESSION_EXPIRY, Raw5, _str,
                      ack5_pkt, disconnect5_pkt, prop, props5, publish5_pkt)


def pub1_bytes(topic, payload, mid, dup=False, qos=1):
    """The exact QoS 1/2 PUBLISH a 5.0 subscriber gets (no properties)."""
    return (3, (qos << 1) | (8 if dup else 0), _str(topic) +
            mid.to_bytes(2, "big") + b"\x00" + payload)


def test_3_3_4_7_receive_maximum_exceeded_0x93():
    # 3.3.4 / 4.9: a client that has more QoS 2 PUBLISHes unacknowledged
    # (no PUBREL yet) than the server's Receive Maximum gets DISCONNECT
    # 0x93 (Receive Maximum exceeded).
    with daemon("max_inflight_messages = 2") as d:
        r = Raw5(d.port, "greedy")
        for mid in (1, 2):
            r.send(publish5_pkt("rm/t", "x", qos=2, mid=mid))
            check(r.read() == (5, 0, bytes([0, mid])), "PUBREC %d" % mid)
        r.send(publish5_pkt("rm/t", "x", qos=2, mid=3))
        expect_disconnect(r, 0x93, "third unacknowledged QoS 2")


def test_4_9_released_messages_free_the_quota():
    # 4.9: the receive quota is given back on PUBCOMP: two at a time,
    # any number in turn.
    with daemon("max_inflight_messages = 2") as d:
        r = Raw5(d.port, "fair")
        for mid in range(1, 7):
            r.send(publish5_pkt("rm/t", "x", qos=2, mid=mid))
            check(r.read() == (5, 0, bytes([0, mid])), "PUBREC %d" % mid)
            r.send(ack5_pkt("pubrel", mid))
            check(r.read() == (7, 0, bytes([0, mid])), "PUBCOMP %d" % mid)
        check(drain(r) == [], "extra packets")


def test_4_9_refused_qos2_does_not_count():
    # 4.9: a PUBREC with a reason of 0x80 or more ends the exchange: it
    # does not use the quota (three refused in a row with a maximum of 2).
    with daemon("max_inflight_messages = 2", anonymous_publish=False) as d:
        r = Raw5(d.port, "refused")
        for mid in (1, 2, 3):
            r.send(publish5_pkt("rm/t", "x", qos=2, mid=mid))
            check(r.read() == (5, 0, bytes([0, mid, 0x87])),
                  "PUBREC 0x87 for %d" % mid)
        check(drain(r) == [], "extra packets")


def test_3_3_4_9_server_respects_client_receive_maximum():
    # [MQTT-3.3.4-9]: the server MUST NOT send more unacknowledged QoS 1/2
    # PUBLISHes than the client's Receive Maximum; each PUBACK lets the
    # next one go, in order [MQTT-4.6.0-6].
    with daemon() as d:
        r = Raw5(d.port, "slow", props=prop(P_RECEIVE_MAXIMUM, 2))
        check(r.subscribe(1, [("rw/#", 1)]) == [1], "SUBACK")
        p = Raw5(d.port, "p")
        for i in range(5):
            pub(p, "rw/t", str(i), mid=i + 1)
        got = drain(r)
        check(got == [pub1_bytes("rw/t", b"0", 1), pub1_bytes("rw/t", b"1",
                                                              2)],
              "window of 2: %r" % got)
        for mid in range(1, 6):
            r.send(ack5_pkt("puback", mid))
            got = drain(r)
            want = ([pub1_bytes("rw/t", str(mid + 1).encode(), mid + 2)]
                    if mid + 2 <= 5 else [])
            check(got == want, "after PUBACK %d: %r, want %r" % (
                mid, got, want))


def test_4_9_qos0_not_held_by_the_window():
    # 4.9: the send quota is for QoS 1 and 2; QoS 0 messages still go to
    # a client whose window is full.
    with daemon() as d:
        r = Raw5(d.port, "full", props=prop(P_RECEIVE_MAXIMUM, 1))
        check(r.subscribe(1, [("q1/#", 1), ("q0/#", 0)]) == [1, 0],
              "SUBACK")
        p = Raw5(d.port, "p")
        pub(p, "q1/t", "a", mid=1)
        pub(p, "q1/t", "b", mid=2)
        pub(p, "q0/t", "zero", mid=3)
        got = drain(r)
        check(got == [pub1_bytes("q1/t", b"a", 1),
                      (3, 0, _str("q0/t") + b"\x00zero")],
              "full window: %r" % got)


def test_3_2_2_server_maximum_packet_size_0x95():
    # 3.2.2.3.6 / 4.13: a packet over the Maximum Packet Size the server
    # announced: DISCONNECT 0x95 (Packet too large); one at the limit is
    # fine.
    with daemon("max_packet_size = 64") as d:
        r = Raw5(d.port, "big")
        ok = publish5_pkt("mp/t", "x" * (64 - 11), qos=1, mid=1)
        check(len(ok) == 64, "at the limit: %d" % len(ok))
        r.send(ok)
        check(r.read() == (4, 0, b"\x00\x01\x10"), "PUBACK at the limit")
        r.send(publish5_pkt("mp/t", "x" * (65 - 11), qos=1, mid=2))
        expect_disconnect(r, 0x95, "over max_packet_size")


def test_3_1_2_25_too_large_for_client_does_not_hold_the_window():
    # [MQTT-3.1.2-25]: a message too large for the client is discarded
    # as if it had been sent: it does not use the client's window; the
    # next one arrives with the next packet id.
    with daemon() as d:
        r = Raw5(d.port, "small", props=prop(P_RECEIVE_MAXIMUM, 1) +
                 prop(P_MAXIMUM_PACKET_SIZE, 40))
        check(r.subscribe(1, [("tl/#", 1)]) == [1], "SUBACK")
        p = Raw5(d.port, "p")
        pub(p, "tl/t", "x" * 60, mid=1)
        pub(p, "tl/t", "fits", mid=2)
        got = drain(r)
        check(len(got) == 1 and got[0][0] == 3 and got[0][1] == 2 and
              got[0][2].endswith(b"\x00fits"), "got %r" % got)


def test_4_4_0_1_unacknowledged_resent_on_resume():
    # [MQTT-4.4.0-1]: on a resumed session (Clean Start 0) the server
    # resends unacknowledged PUBLISHes with their packet ids and DUP 1
    # [MQTT-3.3.1-1], in order; [MQTT-4.6.0-1].
    keep = prop(P_SESSION_EXPIRY, 300)
    with daemon() as d:
        r = Raw5(d.port, "resume", clean=False, props=keep)
        check(r.subscribe(1, [("rr/#", 1)]) == [1], "SUBACK")
        p = Raw5(d.port, "p")
        pub(p, "rr/t", "a", mid=1)
        pub(p, "rr/t", "b", mid=2)
        got = drain(r)
        check(got == [pub1_bytes("rr/t", b"a", 1),
                      pub1_bytes("rr/t", b"b", 2)], "first: %r" % got)
        r.send(ack5_pkt("puback", 1))
        r.send(disconnect5_pkt())
        check(r.closed(), "not closed")
        r = Raw5(d.port, "resume", clean=False, props=keep)
        got = drain(r)
        check(got == [pub1_bytes("rr/t", b"b", 2, dup=True)],
              "resent: %r" % got)
        r.send(ack5_pkt("puback", 2))
        check(drain(r) == [], "more after PUBACK")


def test_4_4_0_2_pubrel_resent_on_resume():
    # [MQTT-4.4.0-1]: a QoS 2 message PUBRECed before the connection
    # ended is resent on resume (as PUBLISH with DUP, docs/durability.md,
    # or as PUBREL); either way it completes and is not sent again.
    keep = prop(P_SESSION_EXPIRY, 300)
    with daemon() as d:
        r = Raw5(d.port, "resume2", clean=False, props=keep)
        check(r.subscribe(1, [("r2/#", 2)]) == [2], "SUBACK")
        p = Raw5(d.port, "p")
        pub(p, "r2/t", "a", qos=2, mid=1)
        p.send(ack5_pkt("pubrel", 1))
        check(p.read() == (7, 0, b"\x00\x01"), "PUBCOMP to publisher")
        got = drain(r)
        check(got == [pub1_bytes("r2/t", b"a", 1, qos=2)], "first %r" % got)
        r.send(ack5_pkt("pubrec", 1))
        check(r.read() == (6, 2, b"\x00\x01"), "PUBREL")
        r.close()
        r = Raw5(d.port, "resume2", clean=False, props=keep)
        q = r.read()
        check(q in ((6, 2, b"\x00\x01"), pub1_bytes("r2/t", b"a", 1,
                                                    dup=True, qos=2)),
              "resent %r" % (q,))
        if q[0] == 3:
            r.send(ack5_pkt("pubrec", 1))
            check(r.read() == (6, 2, b"\x00\x01"), "PUBREL again")
        r.send(ack5_pkt("pubcomp", 1))
        check(drain(r) == [], "more after PUBCOMP")


def test_4_6_0_ordered_per_topic_at_qos1_and_2():
    # [MQTT-4.6.0-5, -6]: the server forwards a client's messages to
    # each subscriber in the order they came (QoS 1 and 2 alike).
    with daemon() as d:
        r = Raw5(d.port, "order")
        check(r.subscribe(1, [("or/#", 2)]) == [2], "SUBACK")
        p = Raw5(d.port, "p")
        for i in range(1, 21):
            pub(p, "or/t", str(i), mid=i, qos=1)
        got = [x[2][-len(str(i)):] for i, x in
               zip(range(1, 21), drain(r))]
        check(got == [str(i).encode() for i in range(1, 21)],
              "order %r" % got)


def test_3_3_2_3_3_expired_while_queued_not_sent():
    # 3.3.2.3.3: a message whose Message Expiry Interval passed while it
    # was queued for an offline session is not sent; the one that has
    # not comes with its interval less the wait and the packet id it
    # would have had (Mosquitto gives ids when queueing: its
    # 02-subpub-qos1-message-expiry expects 2 here).
    import time
    keep = prop(P_SESSION_EXPIRY, 60)
    with daemon() as d:
        r = Raw5(d.port, "off", clean=False, props=keep)
        check(r.subscribe(53, [("me/t", 1)]) == [1], "SUBACK")
        r.close()
        p = Raw5(d.port, "p")
        pub(p, "me/t", "message1", mid=1, props=prop(P_MESSAGE_EXPIRY, 1))
        pub(p, "me/t", "message2", mid=2, props=prop(P_MESSAGE_EXPIRY, 10))
        time.sleep(2.1)
        r = Raw5(d.port, "off", clean=False, props=keep)
        got = drain(r)
        want = [(3, 2, _str("me/t") + b"\x00\x02" + props5(prop(
            P_MESSAGE_EXPIRY, i)) + b"message2") for i in range(9, 5, -1)]
        check(len(got) == 1 and got[0] in want, "got %r" % got)


fhtest.run_cases(globals())
