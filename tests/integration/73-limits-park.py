#!/usr/bin/python3
"""Parking: a plain TCP (mqtt listener) connection idle through a whole
1 s sweep, with nothing buffered, half read or waiting, gives up its
bufferevent and waits as a bare read event on its socket; any traffic
wakes it. The mqtt sink's stats count it (parked.{current, total,
woken}, firehose_mqtt_parked_* in /metrics), and these cases use them to
prove a connection really was parked before it is woken by: a fan-out at
QoS 0, 1 and 2 (threads = 1 and 4), a PINGREQ, a close without
DISCONNECT (its will goes out), a 5.0 takeover (DISCONNECT 0x8E), a stop
(DISCONNECT 0x8B, threads = 1 and 4), a large PUBLISH (also sent in two
halves: a half read packet is not parked). The keep alive runs across
parking: a silent client goes 1.5 x keepalive after its last packet,
woken in between or not. 74-limits-park-ws.py has the WebSocket
cases."""
import time

import fhtest
from fhtest import Daemon, check, free_port
from limitstest import (LISTENERS, expect, parked, publish, stats, take,
                        wait_parked, wait_until)
from mqtttest import (Raw, Raw5, ack_pkt, connect_pkt, packet, publish_pkt,
                      subscribe_pkt)
from transport import metric

CONF = """[broker]
sys_interval = 0
anonymous_publish = true
""" + LISTENERS

PINGREQ = packet(0xc0)


def daemon(threads=None):
    """A daemon with mqtt and ws listeners; threads None: the default
    (or $FH_TEST_THREADS)."""
    head = "[gateway]\nthreads = %d\n" % threads if threads else ""
    return Daemon(head + CONF, ports={"ws": free_port()})


def subscriber(port, cid, topic, qos=0):
    """A raw 3.1.1 connection subscribed to topic."""
    r = Raw(port, connect_pkt(cid))
    r.send(subscribe_pkt(1, [(topic, qos)]))
    p = expect(r, 9, cid + ": SUBACK")
    check(p[2][-1] == qos, "%s: granted %r" % (cid, p[2]))
    return r


def dropped_after(r, since, timeout=12):
    """Seconds from since until the broker closes r."""
    check(r.closed(timeout), "not closed within %ds" % timeout)
    return time.time() - since


def fanout_to_parked(threads, n=50):
    with daemon(threads) as d:
        subs = [subscriber(d.port, "idle%d" % i, "park/all", 2)
                for i in range(n)]
        before = wait_parked(d, n)
        p = Raw(d.port, connect_pkt("pub"))
        for q in (0, 1, 2):
            publish(p, "park/all", "q%d" % q, qos=q, mid=q + 1)
        for i, s in enumerate(subs):
            got = take(s, 3)
            check(got == {b"q0": 0, b"q1": 1, b"q2": 2},
                  "idle%d got %r" % (i, got))
        st = parked(d)
        check(st["woken"] - before["woken"] >= n,
              "%d woken for %d parked subscribers" % (
                  st["woken"] - before["woken"], n))
        # acks done: they (and the publisher) park again
        wait_parked(d, n + 1)
        for r in subs + [p]:
            r.close()


def test_parked_subscribers_get_every_qos_threads_1():
    fanout_to_parked(1)


def test_parked_subscribers_get_every_qos_threads_4():
    fanout_to_parked(4)


def test_parked_client_pingreq_gets_pingresp():
    with daemon() as d:
        r = Raw(d.port, connect_pkt("pinger"))
        st = wait_parked(d, 1)
        check(st == {"current": 1, "total": 1, "woken": 0}, "stats %r" % st)
        r.send(PINGREQ)
        check(r.read(5) == (13, 0, b""), "no PINGRESP")
        check(parked(d)["woken"] == 1, "the PINGREQ woke nobody")
        st = wait_parked(d, 1)
        check(st["total"] == 2, "not parked again: %r" % st)
        r.send(PINGREQ)
        check(r.read(5) == (13, 0, b""), "no PINGRESP after parking again")


def test_parked_client_lost_publishes_its_will():
    with daemon() as d:
        w = subscriber(d.port, "watcher", "will/#")
        r = Raw(d.port, connect_pkt("lost",
                                    will=("will/lost", "gone", 0, False)))
        wait_parked(d, 2)
        r.close()
        m = w.read_publish(5)
        check(m is not None and m[:2] == ("will/lost", b"gone"),
              "will: %r" % (m,))


def test_keepalive_counts_from_the_last_packet_across_parking():
    """keepalive 4 (dropped 6 s after the last packet): one client is
    parked and woken at ~3 s by a message, one stays parked; both go
    5.0 to 8.5 s after their last packet (not 6 s after the wake), and
    their wills go out."""
    with daemon() as d:
        w = subscriber(d.port, "watcher", "will/#")
        clients = []
        for cid in ("woken", "asleep"):
            t = time.time()
            r = Raw(d.port, connect_pkt(cid, keepalive=4, will=(
                "will/" + cid, "gone", 0, False)))
            if cid == "woken":
                t = time.time()
                r.send(subscribe_pkt(1, [("ka/x", 0)]))
                expect(r, 9, "SUBACK")
            clients.append((cid, r, t))
        st = wait_parked(d, 3)
        t_woken = clients[0][2]
        check(time.time() < t_woken + 3, "parking took %.1fs" % (
            time.time() - t_woken))
        time.sleep(t_woken + 3 - time.time())
        p = Raw(d.port, connect_pkt("pub"))
        publish(p, "ka/x", "wake", qos=1)
        m = clients[0][1].read_publish(2)
        check(m is not None and m[:2] == ("ka/x", b"wake"),
              "parked client: %r" % (m,))
        check(parked(d)["woken"] > st["woken"], "the message woke nobody")
        for cid, r, t in clients:
            after = dropped_after(r, t)
            check(5.0 <= after <= 8.5, "%s: dropped %.1fs after its last "
                  "packet, keepalive 4" % (cid, after))
        wills = sorted(w.read_publish(5)[0] for _ in clients)
        check(wills == ["will/asleep", "will/woken"], "wills %r" % wills)


def test_parked_v5_client_taken_over_gets_disconnect_8e():
    with daemon() as d:
        a = Raw5(d.port, "same")
        wait_parked(d, 1)
        b = Raw5(d.port, "same")
        reason = a.disconnected(5)
        check(reason == 0x8E, "DISCONNECT reason %r, want 0x8E" % reason)
        b.nothing()


def stop_parked(threads, n=6):
    """SIGTERM with parked 5.0 clients: each gets DISCONNECT 0x8B."""
    with daemon(threads) as d:
        cs = [Raw5(d.port, "v5-%d" % i) for i in range(n)]
        wait_parked(d, n)
        d.stop()
        for i, c in enumerate(cs):
            reason = c.disconnected(5)
            check(reason == 0x8B, "v5-%d: DISCONNECT reason %r, want 0x8B"
                  % (i, reason))


def test_stop_tells_parked_v5_clients_threads_1():
    stop_parked(1)


def test_stop_tells_parked_v5_clients_threads_4():
    stop_parked(4)


BIG = bytes(range(256)) * 274      # 70 kB


def big_publish(pause=0):
    """A parked publisher's 70 kB QoS 1 PUBLISH reaches a parked
    subscriber whole. pause: sent in two halves that long apart, during
    which the publisher (half a packet read) is not parked again."""
    with daemon() as d:
        s = subscriber(d.port, "big-sub", "big", 1)
        p = Raw(d.port, connect_pkt("big-pub"))
        wait_parked(d, 2)
        pkt = publish_pkt("big", BIG, qos=1, mid=7)
        if pause:
            half = len(pkt) // 2
            p.send(pkt[:half])
            wait_parked(d, 1)
            time.sleep(pause)
            st = parked(d)
            check(st["current"] == 1 and st["total"] == 2,
                  "parked with half a packet read: %r" % st)
            pkt = pkt[half:]
        p.send(pkt)
        expect(p, 4, "PUBACK")
        m = s.read_publish(5)
        check(m is not None and m[1] == BIG, "got %r bytes, want %d" % (
            m and len(m[1]), len(BIG)))
        s.send(ack_pkt("puback", m[3]))


def test_parked_publisher_large_publish_delivered_whole():
    big_publish()


def test_half_read_packet_not_parked():
    big_publish(pause=2.5)


def test_metrics_show_parked_connections():
    with daemon() as d:
        cs = [Raw(d.port, connect_pkt("m%d" % i)) for i in range(3)]
        wait_parked(d, 3)
        text = stats(d)
        for name, want in (("current", 3), ("total", 3), ("woken", 0)):
            got = metric(text, "firehose_mqtt_parked_" + name)
            check(got == want, "firehose_mqtt_parked_%s %r, want %d"
                  % (name, got, want))
        cs[0].send(PINGREQ)
        expect(cs[0], 13, "PINGRESP")
        text = stats(d)
        check(metric(text, "firehose_mqtt_parked_current") == 2 and
              metric(text, "firehose_mqtt_parked_woken") == 1,
              "one woken: %r" % [ln for ln in text.splitlines()
                                 if "parked" in ln])
        cs[1].close()
        wait_until(lambda: metric(stats(d), "firehose_mqtt_parked_current")
                   == 1, 5, "a closed parked connection to be uncounted")


fhtest.run_cases(globals())
