#!/usr/bin/python3
"""Parking WebSocket connections: a ws (not wss) connection idle through
a whole 1 s sweep, between frames and messages with nothing buffered,
gives up its transport filter, its socket bufferevent and its frame
decoder, and waits as a bare read event on its socket like a plain TCP
one (73-limits-park.py). These cases prove it was parked (the parked
counters) before it is woken by: a fan-out at QoS 0, 1 and 2 (threads =
1 and 4), a WebSocket ping (answered with its payload), a close frame
(the close handshake, and the will), a bad frame (closed with 1002,
counted), a stop (5.0 DISCONNECT 0x8B). Half a frame or an open
fragmented message is not parked; the keep alive runs across parking;
the listener still counts a parked session open; wss does not park."""
import struct
import tempfile
import time

import fhtest
from fhtest import Daemon, check, free_port
from limitstest import (LISTENERS, expect, parked, publish, stats, take,
                        wait_parked, wait_until)
from mqtttest import (Raw, connect5_pkt, connect_pkt, packet, parse_reason5,
                      subscribe_pkt)
from transport import RawWS, make_pki, metric, mqtt_split

CONF = """[broker]
sys_interval = 0
anonymous_publish = true
""" + LISTENERS

WSS = """[listener secure-web]
protocol = wss
bind = 127.0.0.1:{wss}
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
"""

PINGREQ = packet(0xc0)
OP_CONT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 2, 8, 9, 10


def daemon(threads=None, conf=CONF, tmp=None, **ports):
    head = "[gateway]\nthreads = %d\n" % threads if threads else ""
    ports.setdefault("ws", free_port())
    return Daemon(head + conf, tmp=tmp, ports=ports)


class WS:
    """MQTT over a hand-driven WebSocket, with mqtttest.Raw's send() and
    read() (so the shared helpers take it): one packet per binary frame
    out, packets split out of whatever frames come in. ws is the
    RawWS, for frames of our own."""

    def __init__(self, port, connect, **kw):
        self.ws = RawWS(port, **kw)
        check(self.ws.status == 101, "upgrade: %r" % self.ws.head)
        self.stream = b""
        self.pkts = []
        self.send(connect)
        expect(self, 2, "CONNACK")

    def send(self, pkt):
        self.ws.send(OP_BINARY, pkt)

    def read(self, timeout=5):
        """(type, flags, body) of the next MQTT packet."""
        while not self.pkts:
            fin, op, p = self.ws.recv_frame(timeout)
            check(op in (OP_CONT, OP_BINARY), "opcode %d" % op)
            pkts, self.stream = mqtt_split(self.stream + p)
            self.pkts += pkts
        p = self.pkts.pop(0)
        i = 1
        while p[i] & 0x80:
            i += 1
        return p[0] >> 4, p[0] & 15, p[i + 1:]

    def close(self):
        self.ws.close()


def ws_sub(port, cid, topic, qos=0):
    w = WS(port, connect_pkt(cid))
    w.send(subscribe_pkt(1, [(topic, qos)]))
    p = expect(w, 9, cid + ": SUBACK")
    check(p[2][-1] == qos, "%s: granted %r" % (cid, p[2]))
    return w


def ws_open(d):
    return metric(stats(d), "firehose_mqtt_listener_ws_open",
                  listener="web", protocol="ws")


def fanout(threads, n=20):
    with daemon(threads) as d:
        subs = [ws_sub(d.ports["ws"], "ws%d" % i, "wsp/all", 2)
                for i in range(n)]
        before = wait_parked(d, n)
        check(ws_open(d) == n, "ws_open %r with %d parked" % (ws_open(d), n))
        p = Raw(d.port, connect_pkt("pub"))
        for q in (0, 1, 2):
            publish(p, "wsp/all", "q%d" % q, qos=q, mid=q + 1)
        for i, w in enumerate(subs):
            got = take(w, 3)
            check(got == {b"q0": 0, b"q1": 1, b"q2": 2},
                  "ws%d got %r" % (i, got))
        check(parked(d)["woken"] >= before["woken"] + n,
              "not every parked subscriber was woken: %r" % parked(d))
        # They park again, and are served again.
        wait_parked(d, n + 1)
        publish(p, "wsp/all", "again", qos=1, mid=9)
        for i, w in enumerate(subs):
            check(take(w, 1) == {b"again": 1}, "ws%d: second" % i)


def test_parked_ws_subscribers_get_every_qos_threads_1():
    fanout(1)


def test_parked_ws_subscribers_get_every_qos_threads_4():
    fanout(4)


def test_parked_ws_ping_frame_gets_its_pong():
    with daemon() as d:
        w = WS(d.ports["ws"], connect_pkt("pinger"))
        wait_parked(d, 1)
        w.ws.send(OP_PING, b"are you there")
        check(w.ws.recv_frame(5) == (True, OP_PONG, b"are you there"),
              "no PONG with the ping's payload")
        st = parked(d)
        check(st["woken"] == 1, "the ping woke nobody: %r" % st)
        st = wait_parked(d, 1)
        check(st["total"] == 2, "not parked again: %r" % st)
        w.send(PINGREQ)
        check(w.read(5) == (13, 0, b""), "no PINGRESP after parking again")


def test_parked_ws_close_frame_closes_and_sends_the_will():
    with daemon() as d:
        watcher = Raw(d.port, connect_pkt("watcher"))
        watcher.send(subscribe_pkt(1, [("will/#", 0)]))
        check(watcher.read(5)[0] == 9, "no SUBACK")
        w = WS(d.ports["ws"], connect_pkt("closer", will=(
            "will/closer", "gone", 0, False)))
        wait_parked(d, 2)
        w.ws.send(OP_CLOSE, struct.pack(">H", 1000))
        check(w.ws.recv_close(5) == 1000, "close not answered with 1000")
        check(w.ws.at_eof(5), "not closed after the close handshake")
        m = watcher.read_publish(5)
        check(m is not None and m[:2] == ("will/closer", b"gone"),
              "will: %r" % (m,))
        w.close()     # the server lingers until our FIN
        wait_until(lambda: ws_open(d) == 0, 5, "ws_open to fall to 0")


def test_parked_ws_bad_frame_closes_1002():
    with daemon() as d:
        w = WS(d.ports["ws"], connect_pkt("bad"))
        wait_parked(d, 1)
        w.ws.send(OP_BINARY, PINGREQ, mask=False)
        check(w.ws.recv_close(5) == 1002, "unmasked frame: want close 1002")
        check(w.ws.at_eof(5), "not closed")
        v = metric(stats(d), "firehose_mqtt_listener_drops", listener="web",
                   protocol="ws", reason="ws_protocol_error")
        check(v == 1, "ws_protocol_error %r, want 1" % v)
        # The daemon and its other clients are fine.
        WS(d.ports["ws"], connect_pkt("after")).close()


def not_parked_while(d, w, first, rest):
    """first is sent, then nothing for 3 s: w is not parked (a tcp
    client beside it is, so the sweeps ran); rest completes a PINGREQ."""
    tcp = Raw(d.port, connect_pkt("tcp-beside"))
    w.ws.send_raw(first)
    t0 = time.time()
    wait_parked(d, 1)
    time.sleep(max(0, t0 + 3 - time.time()))
    st = parked(d)
    check(st["current"] == 1 and st["total"] == 1,
          "after 3 s, want only the tcp client parked: %r" % st)
    w.ws.send_raw(rest)
    check(w.read(5) == (13, 0, b""), "no PINGRESP once complete")
    wait_parked(d, 2)
    tcp.close()


def test_half_a_frame_is_not_parked():
    with daemon() as d:
        w = WS(d.ports["ws"], connect_pkt("half"))
        f = RawWS.frame(OP_BINARY, PINGREQ)
        not_parked_while(d, w, f[:3], f[3:])


def test_open_fragmented_message_is_not_parked():
    with daemon() as d:
        w = WS(d.ports["ws"], connect_pkt("frag"))
        not_parked_while(d, w, RawWS.frame(OP_BINARY, PINGREQ[:1],
                                           fin=False),
                         RawWS.frame(OP_CONT, PINGREQ[1:]))


def test_parked_ws_keepalive_runs_across_parking():
    """keepalive 2: a silent ws client goes 3 s (1.5 x) after its last
    packet, parked in between."""
    with daemon() as d:
        t = time.time()
        w = WS(d.ports["ws"], connect_pkt("silent", keepalive=2))
        wait_parked(d, 1, timeout=2.8)
        code = w.ws.recv_close(8)
        after = time.time() - t
        check(code == 1000, "keep alive: closed with %r, want 1000" % code)
        check(w.ws.at_eof(3), "not closed")
        check(2.5 <= after <= 5.5, "dropped %.1fs after its last packet, "
              "keepalive 2" % after)


def test_stop_tells_parked_ws_v5_clients():
    with daemon() as d:
        cs = [WS(d.ports["ws"], connect5_pkt("v5ws-%d" % i))
              for i in range(4)]
        wait_parked(d, 4)
        d.stop()
        for i, w in enumerate(cs):
            p = expect(w, 14, "v5ws-%d: DISCONNECT" % i)
            reason = parse_reason5(p)[1]
            check(reason == 0x8B, "v5ws-%d: DISCONNECT reason %r, want "
                  "0x8B" % (i, reason))


def test_wss_connection_not_parked():
    """wss keeps its SSL, so it is not parked: idle beside a parked tcp
    client, it stays awake and still gets its messages."""
    tmp = tempfile.mkdtemp(prefix="fh-parkws-")
    pki = make_pki(tmp)
    with daemon(conf=CONF + WSS, tmp=tmp, wss=free_port()) as d:
        w = WS(d.ports["wss"], connect_pkt("wss-idle"), tls_ca=pki["ca"])
        w.send(subscribe_pkt(1, [("wss/t", 1)]))
        expect(w, 9, "SUBACK")
        t0 = time.time()
        tcp = Raw(d.port, connect_pkt("tcp-idle"))
        wait_parked(d, 1)
        time.sleep(max(0, t0 + 3 - time.time()))
        st = parked(d)
        check(st == {"current": 1, "total": 1, "woken": 0},
              "after 3 s idle, want only the tcp client parked: %r" % st)
        p = Raw(d.port, connect_pkt("wss-pub"))
        publish(p, "wss/t", "to wss", qos=1)
        check(take(w, 1) == {b"to wss": 1}, "wss client missed it")
        tcp.close()


fhtest.run_cases(globals())
