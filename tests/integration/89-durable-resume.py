#!/usr/bin/python3
"""A persistent session resumes after a restart as the spec says.

QoS 2 outbound: once the subscriber's PUBREC has arrived the broker owes
it a PUBREL, never the PUBLISH again (MQTT 3.1.1 4.3.3 and 4.4, 5.0 4.3.3
and 4.4: on resume the server resends unacknowledged PUBLISH packets with
DUP and PUBREL packets). That holds after a restart on the same state_dir,
for SIGTERM and kill -9, 3.1.1 and 5.0.

Shared subscriptions ($share/GROUP/filter): a message given to one
member stays the group's across a restart. After the restart every
member counts as offline (its connection was lost); the first member to
connect takes the group's QoS 1 messages, in flight or queued, that wait
on the others (5.0 section 4.8.2 allows either member), once; a QoS 2
message whose PUBLISH went out stays with its member [MQTT-4.8.2-4].
"""
import fhtest
from durabletest import (CONF, DISCONNECT, PUBACK, PUBCOMP, PUBREC, PUBREL,
                         SUBACK, expect, stop)
from fhtest import Daemon, check
from mqtttest import (P_SESSION_EXPIRY, Raw, Raw5, ack5_pkt, ack_pkt,
                      connect5, connect_pkt, disconnect5_pkt,
                      parse_publish5, parse_suback5, prop, publish5_pkt,
                      publish_pkt, subscribe5_pkt, subscribe_pkt)


def sync(r, mid, v5=False):
    """Everything r sent before is committed: a retained QoS 1 publish is
    acknowledged only after the turn's commit, and r's earlier packets
    were staged before it."""
    r.send((publish5_pkt if v5 else publish_pkt)("sync/x", "x", 1, mid,
                                                 retain=True))
    expect(r, PUBACK, mid)


def connect(d, cid, v5):
    if v5:
        r = Raw5(d.port, cid, clean=False,
                 props=prop(P_SESSION_EXPIRY, 3600))
    else:
        r = Raw(d.port, connect_pkt(cid, clean=False))
    return r


def read_pub(r, v5):
    """(topic, payload, qos, mid, retain, dup) of the next PUBLISH."""
    if not v5:
        return r.read_publish()
    p = r.read()
    if p is None:
        return None
    m = parse_publish5(p)
    return (m["topic"], m["payload"], m["qos"], m["mid"], m["retain"],
            m["dup"])


def subscribe(r, filters, v5, mid=1):
    if v5:
        codes = r.subscribe(mid, filters)
        check(all(c < 0x80 for c in codes), "SUBACK %r" % codes)
    else:
        r.send(subscribe_pkt(mid, filters))
        expect(r, SUBACK, mid)


def ack(kind, mid, v5):
    return ack5_pkt(kind, mid) if v5 else ack_pkt(kind, mid)


def qos2_released_resumes_with_pubrel(how, v5):
    with Daemon(CONF) as d:
        s = connect(d, "q2sub", v5)
        subscribe(s, [("q2/#", 2)], v5)
        p = Raw(d.port, connect_pkt("q2pub", clean=True))
        for i, mid in ((1, 11), (2, 12)):
            p.send(publish_pkt("q2/%d" % i, "m%d" % i, 2, mid))
            expect(p, PUBREC, mid)
            p.send(ack_pkt("pubrel", mid))
            expect(p, PUBCOMP, mid)
        got = []
        for i in (1, 2):
            m = read_pub(s, v5)
            check(m is not None and m[:3] == ("q2/%d" % i,
                                             b"m%d" % i, 2),
                  "q2sub: got %r, want q2/%d at QoS 2" % (m, i))
            got.append(m[3])
        # q2/1: PUBREC sent, PUBREL received, no PUBCOMP yet;
        # q2/2: no PUBREC at all.
        s.send(ack("pubrec", got[0], v5))
        expect(s, PUBREL, got[0])
        sync(s, 99, v5)
        p.close()
        s.close()
        stop(d, how)

        d.start()
        s = connect(d, "q2sub", v5)
        # in order: PUBREL for the released one, PUBLISH DUP for the other
        first = s.read()
        check(first is not None, "q2sub: nothing resent after the restart")
        check(first[0] == PUBREL, "q2sub: after PUBREC the broker resent "
              "packet type %d (flags 0x%x), want PUBREL %d"
              % (first[0], first[1], got[0]))
        check(first[1] == 2, "PUBREL flags 0x%x, want 0x2" % first[1])
        check(int.from_bytes(first[2][:2], "big") == got[0],
              "PUBREL for the wrong packet id")
        m = read_pub(s, v5)
        check(m is not None and m[0] == "q2/2" and m[3] == got[1] and m[5],
              "q2/2: want PUBLISH DUP mid %d, got %r" % (got[1], m))
        s.send(ack("pubcomp", got[0], v5))
        s.send(ack("pubrec", got[1], v5))
        expect(s, PUBREL, got[1])
        s.send(ack("pubcomp", got[1], v5))
        s.nothing()
        sync(s, 98, v5)
        s.send(disconnect5_pkt() if v5 else DISCONNECT)
        s.close()
        stop(d, how)

        # PUBCOMP ended both flows for good: nothing is resent
        d.start()
        s = connect(d, "q2sub", v5)
        s.nothing()
        s.send(disconnect5_pkt() if v5 else DISCONNECT)
        s.close()


def member(d, cid, qos=1, new=False):
    """A persistent 5.0 member of $share/g/job (subscribing when new)."""
    r, present, reason, _ = connect5(d.port, cid, clean=False,
                                     props=prop(P_SESSION_EXPIRY, 3600))
    check(reason == 0 and present != new, "%s: CONNACK 0x%02x, session "
          "present %r" % (cid, reason, present))
    if new:
        r.send(subscribe5_pkt(1, [("$share/g/job", qos)]))
        codes = parse_suback5(r.read())[3]
        check(codes == [qos], "%s: SUBACK %r" % (cid, codes))
    return r


def leave(r):
    r.send(disconnect5_pkt())
    check(r.closed(), "not closed after DISCONNECT")


def publish_jobs(d, jobs, qos=1):
    p = Raw(d.port, connect_pkt("jobpub", clean=True))
    for mid, payload in enumerate(jobs, 1):
        p.send(publish_pkt("job", payload, qos, mid))
        expect(p, PUBACK if qos == 1 else PUBREC, mid)
        if qos == 2:
            p.send(ack_pkt("pubrel", mid))
            expect(p, PUBCOMP, mid)
    p.close()


def test_kill9_shared_in_flight_goes_to_the_member_that_connects():
    """a was connected when the daemon died, with the group's message in
    flight (kill -9: a clean stop would have handed it on before it
    exited, as for any lost connection)."""
    how = "kill9"
    with Daemon(CONF) as d:
        a = member(d, "sa", new=True)
        b = member(d, "sb", new=True)
        leave(b)
        publish_jobs(d, ["work"])       # to a, the one connected
        m = read_pub(a, True)
        check(m is not None and m[1] == b"work", "a: %r" % (m,))
        stop(d, how)                    # a still connected, no PUBACK
        a.close()

        d.start()
        # b is there first: a's unacknowledged job is the group's
        b = member(d, "sb")
        m = read_pub(b, True)
        check(m is not None and m[:3] == ("job", b"work", 1),
              "b: the group's message after the restart: %r" % (m,))
        b.send(ack5_pkt("puback", m[3]))
        sync(b, 97, True)
        a = member(d, "sa")
        a.nothing()                     # moved, not copied
        leave(a)
        leave(b)
        stop(d, how)

        # the move was stored: nobody gets it again
        d.start()
        for cid in ("sa", "sb"):
            r = member(d, cid)
            r.nothing()
            leave(r)


def test_kill9_shared_queued_goes_to_the_member_that_connects():
    """Queued for an offline member (none was connected): after the
    restart, the first member that connects gets it."""
    with Daemon(CONF) as d:
        for cid in ("qa", "qb"):
            leave(member(d, cid, new=True))
        publish_jobs(d, ["j1", "j2", "j3"])
        d.kill9()
        d.start()
        b = member(d, "qb")
        got = []
        for _ in range(3):
            m = read_pub(b, True)
            check(m is not None, "qb: got %r of j1..j3" % got)
            got.append(m[1])
            b.send(ack5_pkt("puback", m[3]))
        check(got == [b"j1", b"j2", b"j3"], "qb: %r, in order" % got)
        sync(b, 97, True)
        a = member(d, "qa")
        a.nothing()
        leave(a)
        leave(b)


def test_kill9_shared_qos2_in_flight_stays_with_its_member():
    """[MQTT-4.8.2-4]: a QoS 2 PUBLISH sent to a member is completed
    with that member when it reconnects, not given to another."""
    with Daemon(CONF) as d:
        a = member(d, "ta", qos=2, new=True)
        b = member(d, "tb", qos=2, new=True)
        leave(b)
        publish_jobs(d, ["once"], qos=2)
        m = read_pub(a, True)
        check(m is not None and m[1] == b"once" and m[2] == 2, "a: %r"
              % (m,))
        d.kill9()                       # a still connected, no PUBREC
        a.close()
        d.start()
        b = member(d, "tb")
        b.nothing()
        a = member(d, "ta")
        m2 = read_pub(a, True)
        check(m2 is not None and m2[1] == b"once" and m2[5] and
              m2[3] == m[3], "a: the QoS 2 PUBLISH again with DUP and mid "
              "%d: %r" % (m[3], m2))
        a.send(ack5_pkt("pubrec", m[3]))
        expect(a, PUBREL, m[3])
        a.send(ack5_pkt("pubcomp", m[3]))
        a.nothing()
        leave(a)
        leave(b)


def test_sigterm_qos2_after_pubrec_resumes_with_pubrel_311():
    qos2_released_resumes_with_pubrel("term", False)


def test_kill9_qos2_after_pubrec_resumes_with_pubrel_311():
    qos2_released_resumes_with_pubrel("kill9", False)


def test_kill9_qos2_after_pubrec_resumes_with_pubrel_5():
    qos2_released_resumes_with_pubrel("kill9", True)


fhtest.run_cases(globals())
