#!/usr/bin/python3
"""MQTT 3.1.1 conformance, PUBLISH and its acknowledgements (OASIS MQTT
3.1.1, sections 3.3 to 3.7, 4.3, 4.6): one case per normative statement
or small group, raw packets, byte-exact answers."""
import fhtest
from conformtest import CONF, as_tuple, closed_silently, drain, pub1
from fhtest import Daemon, check
from mqtttest import (Raw, _str, ack_pkt, connect_pkt, packet, publish_pkt,
                      subscribe_pkt)


def mid2(n):
    return n.to_bytes(2, "big")


def subscriber(port, cid, filt, qos):
    r = Raw(port, connect_pkt(cid))
    r.send(subscribe_pkt(1, [(filt, qos)]))
    check(r.read() == (9, 0, b"\x00\x01" + bytes([qos])), "SUBACK")
    return r


def test_3_3_1_4_qos_3_closes():
    # [MQTT-3.3.1-4]: a PUBLISH with both QoS bits set: closed.
    with Daemon(CONF) as d:
        s = subscriber(d.port, "s", "q/#", 0)
        r = Raw(d.port, connect_pkt("q3"))
        r.send(packet(0x36, _str("q/3") + b"\x00\x01x"))
        check(closed_silently(r), "QoS 3 not closed")
        check(drain(s) == [], "QoS 3 message delivered")


def test_3_3_1_2_dup_on_qos_0_closes():
    # [MQTT-3.3.1-2]: DUP MUST be 0 for QoS 0: a violation closes.
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("dup0"))
        r.send(packet(0x38, _str("d") + b"x"))
        check(closed_silently(r), "DUP on QoS 0 not closed")


def test_3_3_1_3_incoming_dup_not_propagated():
    # [MQTT-3.3.1-3]: the DUP flag of an outgoing PUBLISH is set
    # independently of the incoming one: a first delivery has DUP 0.
    with Daemon(CONF) as d:
        s = subscriber(d.port, "s", "dup/#", 1)
        r = Raw(d.port, connect_pkt("p"))
        r.send(publish_pkt("dup/a", "x", qos=1, mid=5, dup=True))
        check(r.read() == (4, 0, mid2(5)), "PUBACK")
        p = s.read()
        check(p is not None and p[1] == 2, "flags: want QoS 1 without DUP, "
              "got %r" % (p,))


def test_3_3_2_2_wildcard_in_topic_name_closes():
    # [MQTT-3.3.2-2]: a topic name MUST NOT contain wildcards;
    # [MQTT-4.7.3-1]: nor be empty; [MQTT-4.7.3-2]: nor hold U+0000.
    with Daemon(CONF) as d:
        s = subscriber(d.port, "s", "#", 0)
        for i, t in enumerate(["#", "+", "a/#", "a/+", "a/+/b", "a+", "#a",
                               "", b"a\x00b"]):
            r = Raw(d.port, connect_pkt("w%d" % i))
            r.send(publish_pkt(t, "x"))
            check(closed_silently(r), "topic %r not closed" % t)
        check(drain(s) == [], "bad topic delivered")


def test_3_3_2_3_topic_name_sent_is_the_published_one():
    # [MQTT-3.3.2-3]: the topic name sent to a subscriber is the
    # publisher's, not the filter.
    with Daemon(CONF) as d:
        s = subscriber(d.port, "s", "a/+/c", 0)
        r = Raw(d.port, connect_pkt("p"))
        pub1(r, "a/b/c", "x", 1)
        check(drain(s) == [as_tuple(publish_pkt("a/b/c", "x"))],
              "want a/b/c")


def test_3_3_4_1_responses_by_qos():
    # [MQTT-3.3.4-1]: QoS 0 none, QoS 1 PUBACK, QoS 2 PUBREC; then PUBREL
    # gets PUBCOMP [MQTT-3.6.4-1], all with the same packet id
    # [MQTT-2.3.1-6].
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("p"))
        r.send(publish_pkt("r/0", "x"))
        r.send(publish_pkt("r/1", "x", qos=1, mid=0x1234))
        check(r.read() == (4, 0, b"\x12\x34"), "PUBACK")
        r.send(publish_pkt("r/2", "x", qos=2, mid=0xfffe))
        check(r.read() == (5, 0, b"\xff\xfe"), "PUBREC")
        r.send(ack_pkt("pubrel", 0xfffe))
        check(r.read() == (7, 0, b"\xff\xfe"), "PUBCOMP")
        check(drain(r) == [], "an answer to QoS 0")


def test_2_3_1_1_packet_id_zero_closes():
    # [MQTT-2.3.1-1]: QoS 1/2 PUBLISH, SUBSCRIBE, UNSUBSCRIBE, PUBACK...
    # carry a non-zero packet identifier.
    with Daemon(CONF) as d:
        for i, bad in enumerate([publish_pkt("a", "x", qos=1, mid=0),
                                 publish_pkt("a", "x", qos=2, mid=0),
                                 subscribe_pkt(0, [("a", 0)]),
                                 packet(0xA2, b"\x00\x00" + _str("a")),
                                 ack_pkt("puback", 0), ack_pkt("pubrel", 0)]):
            r = Raw(d.port, connect_pkt("z%d" % i))
            r.send(bad)
            check(closed_silently(r), "id 0 accepted: %r" % bad)


def test_3_6_1_1_pubrel_flags_must_be_0010():
    # [MQTT-3.6.1-1]: PUBREL's fixed header flags are 0,0,1,0; others
    # close the connection.
    with Daemon(CONF) as d:
        for i, first in enumerate((0x60, 0x61, 0x63, 0x6A)):
            r = Raw(d.port, connect_pkt("rel%d" % i))
            r.send(publish_pkt("a", "x", qos=2, mid=1))
            check(r.read() == (5, 0, mid2(1)), "PUBREC")
            r.send(packet(first, mid2(1)))
            check(closed_silently(r), "PUBREL 0x%02x kept" % first)


def test_2_2_2_acks_reserved_flags_close():
    # [MQTT-2.2.2-1], [MQTT-2.2.2-2]: reserved flags of PUBACK, PUBREC,
    # PUBCOMP MUST be 0; anything else is malformed.
    with Daemon(CONF) as d:
        for i, first in enumerate((0x42, 0x52, 0x72, 0x41)):
            r = Raw(d.port, connect_pkt("f%d" % i))
            r.send(packet(first, mid2(1)))
            check(closed_silently(r), "0x%02x kept" % first)


def test_4_3_3_qos2_duplicate_before_pubrel_not_delivered_twice():
    # [MQTT-4.3.3-2]: the receiver of a QoS 2 PUBLISH MUST NOT deliver it
    # again for the same packet id until it has sent PUBCOMP: the resend
    # (DUP 1) gets a PUBREC only. After the PUBREL the id is free and a
    # new PUBLISH with it is a new message.
    with Daemon(CONF) as d:
        s = subscriber(d.port, "s", "q2/#", 0)
        r = Raw(d.port, connect_pkt("p"))
        r.send(publish_pkt("q2/a", "one", qos=2, mid=9))
        check(r.read() == (5, 0, mid2(9)), "PUBREC")
        r.send(publish_pkt("q2/a", "one", qos=2, mid=9, dup=True))
        check(r.read() == (5, 0, mid2(9)), "PUBREC for the resend")
        r.send(ack_pkt("pubrel", 9))
        check(r.read() == (7, 0, mid2(9)), "PUBCOMP")
        r.send(publish_pkt("q2/a", "two", qos=2, mid=9))
        check(r.read() == (5, 0, mid2(9)), "PUBREC")
        r.send(ack_pkt("pubrel", 9))
        check(r.read() == (7, 0, mid2(9)), "PUBCOMP")
        check(drain(s) == [as_tuple(publish_pkt("q2/a", "one")),
                           as_tuple(publish_pkt("q2/a", "two"))],
              "want one and two, once each")


def test_4_3_3_pubrel_unknown_id_gets_pubcomp():
    # [MQTT-4.3.3-2]: a PUBREL is answered with PUBCOMP with the same id,
    # even when nothing is stored for it (a resent PUBREL).
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("p"))
        r.send(ack_pkt("pubrel", 77))
        check(r.read() == (7, 0, mid2(77)), "PUBCOMP")
        # stray PUBACK/PUBREC/PUBCOMP for ids the server never used:
        # ignored, the connection goes on
        r.send(ack_pkt("puback", 5) + ack_pkt("pubrec", 6) +
               ack_pkt("pubcomp", 7))
        check(drain(r) in ([], [(6, 2, mid2(6))]), "stray acks answered "
              "with something else")


def test_4_6_0_2_3_acks_in_the_order_of_publishes():
    # [MQTT-4.6.0-2]: PUBACKs in the order the PUBLISHes came;
    # [MQTT-4.6.0-3]: PUBRECs too; and PUBCOMPs for PUBRELs.
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("p"))
        ids = [300 + i * 7 for i in range(20)]
        r.send(b"".join(publish_pkt("o/%d" % (i % 3), "x", qos=1 + i % 2,
                                    mid=m) for i, m in enumerate(ids)))
        got = [r.read() for _ in ids]
        want = [(4 + i % 2, 0, mid2(m)) for i, m in enumerate(ids)]
        check(got == want, "acks out of order: %r" % got)
        rel = [m for i, m in enumerate(ids) if i % 2]
        r.send(b"".join(ack_pkt("pubrel", m) for m in rel))
        got = [r.read() for _ in rel]
        check(got == [(7, 0, mid2(m)) for m in rel], "PUBCOMPs %r" % got)


def test_4_6_0_6_order_per_topic_kept_qos1_and_qos2():
    # [MQTT-4.6.0-6]: a topic is ordered by default: PUBLISHes to one
    # subscriber, same topic and QoS, go in the order they came. The
    # outgoing QoS 1/2 acks are in order too ([MQTT-4.6.0-2..4] on the
    # subscriber's side): they are answered as they come.
    with Daemon(CONF) as d:
        for qos in (1, 2):
            s = subscriber(d.port, "s%d" % qos, "ord/%d" % qos, qos)
            r = Raw(d.port, connect_pkt("p%d" % qos))
            n = 60
            r.send(b"".join(publish_pkt("ord/%d" % qos, str(i), qos=qos,
                                        mid=i + 1) for i in range(n)))
            for i in range(n):
                p = r.read()
                check(p == (3 + qos, 0, mid2(i + 1)), "ack %r" % (p,))
            seen = []
            pending = {}
            while len(seen) < n:
                p = s.read()
                check(p is not None, "only %d of %d" % (len(seen), n))
                if p[0] == 3:
                    tl = int.from_bytes(p[2][:2], "big")
                    mid = p[2][2 + tl:4 + tl]
                    check((p[1] >> 1) & 3 == qos, "QoS %r" % (p,))
                    seen.append(int(p[2][4 + tl:]))
                    s.send(packet(0x40 if qos == 1 else 0x50, mid))
                    if qos == 2:
                        pending[mid] = True
                elif p[0] == 6:
                    check(p[1] == 2, "PUBREL flags %r" % (p,))
                    s.send(ack_pkt("pubcomp",
                                   int.from_bytes(p[2], "big")))
                else:
                    check(False, "unexpected %r" % (p,))
            check(seen == list(range(n)), "QoS %d out of order: %r" %
                  (qos, seen))


def test_3_3_5_1_overlapping_subscriptions_max_qos():
    # [MQTT-3.3.5-1]: with overlapping subscriptions the message goes
    # out at the maximum QoS of those that match (one copy, 3.1.1 allows
    # that as well as one per subscription).
    with Daemon(CONF) as d:
        s = Raw(d.port, connect_pkt("s"))
        s.send(subscribe_pkt(1, [("ov/#", 0), ("ov/+", 2), ("ov/a", 1)]))
        check(s.read() == (9, 0, b"\x00\x01\x00\x02\x01"), "SUBACK")
        r = Raw(d.port, connect_pkt("p"))
        pub1(r, "ov/a", "x", 1)
        got = drain(s)
        check(len(got) >= 1 and all(g[0] == 3 and g[1] == 2 for g in got),
              "want QoS 2 (max of 0, 2, 1) copies: %r" % (got,))


def test_3_8_4_6_delivered_at_min_of_message_and_granted_qos():
    # [MQTT-3.8.4-6] and 4.3: delivered at the lower of the message's
    # QoS and the subscription's.
    with Daemon(CONF) as d:
        subs = [subscriber(d.port, "s%d" % q, "mq/#", q) for q in range(3)]
        r = Raw(d.port, connect_pkt("p"))
        for mq in range(3):
            r.send(publish_pkt("mq/%d" % mq, "x", qos=mq, mid=mq))
            if mq:
                check(r.read() == (3 + mq, 0, mid2(mq)), "ack")
        r.send(ack_pkt("pubrel", 2))
        check(r.read() == (7, 0, mid2(2)), "PUBCOMP")
        for sq, s in enumerate(subs):
            got = [((p[1] >> 1) & 3) for p in drain(s) if p[0] == 3]
            want = [min(sq, mq) for mq in range(3)]
            check(got == want, "sub QoS %d: got %r, want %r" %
                  (sq, got, want))


def test_2_3_1_outgoing_packet_ids_nonzero_and_unique_in_flight():
    # [MQTT-2.3.1-1], [MQTT-2.3.1-2]: the server's QoS 1/2 PUBLISHes
    # carry non-zero ids, none reused while in flight.
    with Daemon(CONF) as d:
        s = subscriber(d.port, "s", "ids", 1)
        r = Raw(d.port, connect_pkt("p"))
        for i in range(15):
            pub1(r, "ids", str(i), i + 1)
        ids = []
        for _ in range(15):
            p = s.read()
            check(p is not None and p[0] == 3, "PUBLISH %r" % (p,))
            ids.append(p[2][5:7])
        check(b"\x00\x00" not in ids and len(set(ids)) == 15,
              "ids %r" % ids)


def test_3_3_1_5_retained_stored_and_replaced():
    # [MQTT-3.3.1-5]: RETAIN 1: stored, replacing the topic's previous
    # retained message; [MQTT-3.3.1-6], [MQTT-3.3.1-8]: a new subscriber
    # gets the last one with RETAIN 1.
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("p"))
        pub1(r, "ret/a", "old", 1, retain=True)
        pub1(r, "ret/a", "new", 2, retain=True)
        s = subscriber(d.port, "s", "ret/a", 0)
        check(drain(s) == [as_tuple(publish_pkt("ret/a", "new",
                                                retain=True))],
              "retained")


def test_3_3_1_7_qos0_retained_replaces():
    # [MQTT-3.3.1-7]: a QoS 0 retained message replaces any retained
    # message of the topic.
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("p"))
        pub1(r, "ret/q", "qos1", 1, retain=True)
        r.send(publish_pkt("ret/q", "qos0", retain=True))
        pub1(r, "sync", "x", 2)
        s = subscriber(d.port, "s", "ret/q", 2)
        check(drain(s) == [as_tuple(publish_pkt("ret/q", "qos0",
                                                retain=True))],
              "want the QoS 0 one")


def test_3_3_1_9_established_subscriber_gets_retain_0():
    # [MQTT-3.3.1-9]: a PUBLISH sent because it matches an established
    # subscription has RETAIN 0, whatever the publisher set.
    with Daemon(CONF) as d:
        s = subscriber(d.port, "s", "ret/#", 0)
        r = Raw(d.port, connect_pkt("p"))
        pub1(r, "ret/live", "x", 1, retain=True)
        check(drain(s) == [as_tuple(publish_pkt("ret/live", "x"))],
              "retain flag on a live delivery")


def test_3_3_1_10_11_empty_retained_deletes_and_is_delivered():
    # [MQTT-3.3.1-10]: a retained PUBLISH with a zero-length payload is
    # delivered to current subscribers as usual and removes the retained
    # message; [MQTT-3.3.1-11]: it is not stored itself.
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("p"))
        pub1(r, "ret/del", "x", 1, retain=True)
        s = subscriber(d.port, "s", "ret/del", 0)
        check(drain(s) == [as_tuple(publish_pkt("ret/del", "x",
                                                retain=True))], "retained")
        pub1(r, "ret/del", "", 2, retain=True)
        check(drain(s) == [as_tuple(publish_pkt("ret/del", ""))],
              "the empty message, retain 0, to the subscriber")
        late = subscriber(d.port, "late", "ret/#", 0)
        check(drain(late) == [], "still retained")


def test_3_3_1_12_retain_0_leaves_retained_alone():
    # [MQTT-3.3.1-12]: RETAIN 0: not stored, and the retained message of
    # the topic is neither removed nor replaced (an empty one neither).
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("p"))
        pub1(r, "ret/k", "kept", 1, retain=True)
        pub1(r, "ret/k", "live", 2)
        pub1(r, "ret/k", "", 3)
        s = subscriber(d.port, "s", "ret/k", 0)
        check(drain(s) == [as_tuple(publish_pkt("ret/k", "kept",
                                                retain=True))],
              "retained message changed by RETAIN 0")


def test_3_3_1_6_retained_qos_is_min_of_message_and_granted():
    # [MQTT-3.3.1-6] with [MQTT-3.8.4-6]: a retained QoS 2 message to a
    # QoS 1 subscription goes out at QoS 1, RETAIN 1.
    with Daemon(CONF) as d:
        r = Raw(d.port, connect_pkt("p"))
        r.send(publish_pkt("ret/q2", "x", qos=2, mid=1, retain=True))
        check(r.read() == (5, 0, mid2(1)), "PUBREC")
        r.send(ack_pkt("pubrel", 1))
        check(r.read() == (7, 0, mid2(1)), "PUBCOMP")
        s = subscriber(d.port, "s", "ret/q2", 1)
        p = s.read()
        check(p is not None and p[0] == 3 and p[1] == 3,
              "want QoS 1 RETAIN 1: %r" % (p,))


def test_4_3_3_qos2_receive_state_survives_reconnect():
    # [MQTT-4.3.3-2], [MQTT-4.1.0-1]: the QoS 2 receive state (ids
    # PUBRECed, no PUBREL yet) is part of a persistent session: a resend
    # after a reconnect is not delivered again; PUBREL completes it.
    with Daemon(CONF) as d:
        s = subscriber(d.port, "s", "rq/#", 0)
        r = Raw(d.port, connect_pkt("p", clean=False))
        r.send(publish_pkt("rq/a", "once", qos=2, mid=5))
        check(r.read() == (5, 0, mid2(5)), "PUBREC")
        r.close()
        r = Raw(d.port, connect_pkt("p", clean=False))
        check(r.connack == b"\x01\x00", "session present")
        r.send(publish_pkt("rq/a", "once", qos=2, mid=5, dup=True))
        check(r.read() == (5, 0, mid2(5)), "PUBREC for the resend")
        r.send(ack_pkt("pubrel", 5))
        check(r.read() == (7, 0, mid2(5)), "PUBCOMP")
        check(drain(s) == [as_tuple(publish_pkt("rq/a", "once"))],
              "want the message once")


def test_4_4_0_1_takeover_resends_unacked_with_dup():
    # [MQTT-4.4.0-1], [MQTT-3.3.1-1]: a client that reconnects (here
    # taking its own session over) gets the unacknowledged PUBLISH again,
    # same id, DUP 1.
    with Daemon(CONF) as d:
        s = Raw(d.port, connect_pkt("s", clean=False))
        s.send(subscribe_pkt(1, [("tk", 1)]))
        check(s.read() == (9, 0, b"\x00\x01\x01"), "SUBACK")
        p = Raw(d.port, connect_pkt("p"))
        pub1(p, "tk", "x", 1)
        first = s.read()
        check(first is not None and first[:2] == (3, 2), "PUBLISH %r" %
              (first,))
        s2 = Raw(d.port, connect_pkt("s", clean=False))
        check(s2.connack == b"\x01\x00", "session present")
        again = s2.read()
        check(again == (3, 0x0A, first[2]), "resend %r, first %r" %
              (again, first))


def test_3_3_publisher_subscribed_gets_its_own_message():
    # 3.1.1 has no No Local: a client subscribed to what it publishes
    # gets it ([MQTT-4.5.0-1]: to every matching subscription). A
    # zero-length payload is a message like any other.
    with Daemon(CONF) as d:
        r = subscriber(d.port, "self", "me", 1)
        r.send(publish_pkt("me", "", qos=1, mid=3))
        got = [r.read(), r.read()]
        kinds = sorted(g[0] for g in got)
        check(kinds == [3, 4], "want PUBACK and PUBLISH: %r" % got)
        pk = [g for g in got if g[0] == 3][0]
        check(pk[1] == 2 and len(pk[2]) == 4 + 2, "empty QoS 1 message "
              "%r" % (pk,))


def test_3_3_5_2_unauthorized_publish_acknowledged_not_delivered():
    # [MQTT-3.3.5-2]: a PUBLISH the server does not authorize (anonymous
    # without anonymous_publish, or to $SYS) is acknowledged as usual
    # (or the connection closed): here PUBACK, PUBREC/PUBCOMP, and no
    # delivery.
    conf = CONF.replace("anonymous_publish = true",
                        "anonymous_publish = false")
    with Daemon(conf) as d:
        s = subscriber(d.port, "s", "#", 2)
        r = Raw(d.port, connect_pkt("anon"))
        r.send(publish_pkt("den/1", "x", qos=1, mid=1))
        check(r.read() == (4, 0, mid2(1)), "PUBACK")
        r.send(publish_pkt("den/2", "x", qos=2, mid=2))
        check(r.read() == (5, 0, mid2(2)), "PUBREC")
        r.send(ack_pkt("pubrel", 2))
        check(r.read() == (7, 0, mid2(2)), "PUBCOMP")
        r.send(publish_pkt("$SYS/x", "x", qos=1, mid=3))
        check(r.read() == (4, 0, mid2(3)), "PUBACK for $SYS")
        check(drain(s) == [], "an unauthorized message delivered")


fhtest.run_cases(globals())
