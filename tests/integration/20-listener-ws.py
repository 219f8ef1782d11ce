#!/usr/bin/python3
"""WebSocket listeners: paho over ws (IPv4, IPv6, two listeners of one
kind), the built-in pages (/healthz, /metrics, 404), and raw-socket abuse:
bad upgrades, unmasked/oversize/text frames, a bad UTF-8 close reason, an
MQTT packet split over frames and several in one frame, ping/pong, the
close handshake, and a client stalled mid-frame that does not hold up
anyone else."""
import json
import socket
import threading

import fhtest
from fhtest import Daemon, check, free_port, run, wait_port
from transport import (Paho, RawWS, http_get, metric, mqtt_connect,
                       mqtt_publish, mqtt_subscribe, wait_for)

CONF = """[broker]
anonymous_publish = true
sys_interval = 0
[listener tcp]
bind = 127.0.0.1:{port}
[listener web]
protocol = ws
bind = 127.0.0.1:{ws}
path = /mqtt
max_frame_size = 64k
max_message_size = 256k
allowed_origins = https://ok.example, https://127.0.0.1:{ws}
[listener web2]
protocol = ws
bind = 127.0.0.1:{ws2}
[listener web6]
protocol = ws
bind = [::1]:{ws6}
"""

# One port number on both families: the v6 socket is v6-only.
DUAL = """[listener all4]
protocol = ws
bind = 0.0.0.0:{dual}
[listener all6]
protocol = ws
bind = [::]:{dual}
"""


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def ws_session(port, cid, topic=None):
    """A raw WebSocket MQTT client that is connected (and subscribed)."""
    w = RawWS(port)
    check(w.status == 101, "upgrade: %r" % w.head)
    w.send(2, mqtt_connect(cid))
    ack = w.mqtt_packets(1)[0]
    check(ack[0] == 0x20 and ack[3] == 0, "CONNACK %r" % ack)
    if topic is not None:
        w.send(2, mqtt_subscribe(topic))
        check(w.mqtt_packets(1)[0][0] == 0x90, "no SUBACK")
    return w


def check_paho(d):
    ports = [d.ports["ws"], d.ports["ws2"]]
    subs = [Paho(p, "websockets") for p in ports]
    if have_ipv6():
        wait_port(d.ports["ws6"], host="::1")
        subs.append(Paho(d.ports["ws6"], "websockets", host="::1"))
    for s in subs:
        s.sub("paho/#")
    pub = Paho(d.ports["ws2"], "websockets", path="/any/path")
    big = bytes(range(256)) * 3900  # ~1 MB, under max_packet_size
    pub.pub("paho/a", b"small")
    pub.pub("paho/b", big)
    for s in subs:
        m = s.get()
        check((m.topic, m.payload) == ("paho/a", b"small"), m.topic)
        m = s.get()
        check(m.topic == "paho/b" and m.payload == big, "1 MB over ws")
        s.close()
    pub.close()


def check_pages(d):
    port = d.ports["ws"]
    st, head, body = http_get(port, "/healthz")
    check(st == 200 and "application/json" in head, head)
    h = json.loads(body)
    check(h["status"] == "ok" and h["listener"] == "web", body)
    st, head, body = http_get(port, "/metrics")
    check(st == 200 and "text/plain" in head, head)
    text = body.decode()
    check(metric(text, "firehose_mqtt_listener_accepted", listener="web",
                 protocol="ws") >= 1, text)
    check(metric(text, "firehose_bus_events") is not None, text)
    check(metric(text, "firehose_mqtt_messages_received") is not None, text)
    st, head, body = http_get(port, "/nope")
    check(st == 404, head)
    st, head, body = http_get(port, "/healthz", method="HEAD")
    check(st == 200 and body == b"", head)
    st, head, body = http_get(port, "/healthz", method="POST")
    check(st == 405, head)
    # garbage instead of HTTP
    w = RawWS(port, upgrade=False)
    w.send_raw(b"\x16\x03\x01\x00\x05hello\r\n\r\n")
    check(w.read_head() == 400, w.head)
    w.close()


def check_bad_upgrades(d):
    port = d.ports["ws"]
    w = RawWS(port, path="/elsewhere")
    check(w.status == 404, w.head)
    w = RawWS(port, version="8")
    check(w.status == 426 and w.header("Sec-WebSocket-Version") == "13",
          w.head)
    w = RawWS(port, key="not-a-key")
    check(w.status == 400, w.head)
    w = RawWS(port, headers=["Origin: https://evil.example"])
    check(w.status == 403, w.head)
    w = RawWS(port, headers=["Origin: https://ok.example"])
    check(w.status == 101, w.head)
    w.close()
    # subprotocols: mqtt, mqttv3.1, none
    for offer, want in (("mqtt", "mqtt"), ("foo, mqttv3.1", "mqttv3.1"),
                        (None, None)):
        w = RawWS(port, protocols=offer)
        check(w.status == 101, w.head)
        check(w.header("Sec-WebSocket-Protocol") == want,
              "%r: %r" % (offer, w.head))
        w.close()


def send_fragments(w):
    """A valid 300 kB PUBLISH in 60 kB fragments: the message limit
    (256k) trips at the fifth."""
    p = mqtt_publish("raw/big", b"y" * 300000)
    chunks = [p[i:i + 60000] for i in range(0, len(p), 60000)]
    for i, c in enumerate(chunks):
        w.send(2 if i == 0 else 0, c, fin=i == len(chunks) - 1)


def check_frames(d):
    port = d.ports["ws"]
    listener = ws_session(port, "listener", "raw/#")

    # One PUBLISH split over three frames (with a ping in between), then
    # two PUBLISHes in one frame.
    w = ws_session(port, "splitter")
    p = mqtt_publish("raw/split", "over three frames")
    w.send(2, p[:1], fin=False)
    w.send(0, p[1:7], fin=False)
    w.send(9, b"are you there")
    fin, op, pong = w.recv_frame()
    check(op == 10 and pong == b"are you there", "pong %r" % pong)
    w.send(0, p[7:], fin=True)
    w.send(2, mqtt_publish("raw/one", "1") + mqtt_publish("raw/two", "2"))
    got = listener.mqtt_packets(3)
    check([g[-1:] for g in got] == [b"s", b"1", b"2"], repr(got))
    # close handshake: our code comes back
    w.send(8, b"\x03\xe8bye")
    check(w.recv_close() == 1000, "close echo")
    check(w.at_eof(), "socket not closed after close")

    cases = [
        ("unmasked", lambda w: w.send(2, b"\xc0\x00", mask=False), 1002),
        ("rsv", lambda w: w.send(2, b"\xc0\x00", rsv=0x40), 1002),
        ("text", lambda w: w.send(1, b"\xc0\x00"), 1003),
        ("frame too big", lambda w: w.send(2, b"x" * 70000), 1009),
        ("message too big", send_fragments, 1009),
        ("bad utf-8 close", lambda w: w.send(8, b"\x03\xe8\xc3\x28"), 1007),
        ("bad close code", lambda w: w.send(8, b"\x03\xed"), 1002),
        ("stray continuation", lambda w: w.send(0, b"x"), 1002),
    ]
    for name, act, code in cases:
        w = ws_session(port, "bad-" + name.replace(" ", "-"))
        act(w)
        got = w.recv_close()
        check(got == code, "%s: close %r, want %d" % (name, got, code))
        check(w.at_eof(), "%s: not closed" % name)
        w.close()

    # The listener saw all of that and still works.
    w = ws_session(port, "after")
    w.send(2, mqtt_publish("raw/after", "still here"))
    check(listener.mqtt_packets(1)[0].endswith(b"still here"), "after")
    listener.close()
    w.close()
    st, head, body = http_get(port, "/metrics")
    text = body.decode()
    for reason, n in (("ws_protocol_error", 4), ("ws_text_frame", 1),
                      ("ws_bad_utf8", 1), ("ws_too_big", 2)):
        v = metric(text, "firehose_mqtt_listener_drops", listener="web",
                   reason=reason)
        check(v == n, "drops %s = %r, want %d" % (reason, v, n))


def check_stall(d):
    """A client that sends half a frame and stops reading must not hold
    anyone else up."""
    port = d.ports["ws"]
    stalled = ws_session(port, "stalled", "stall/#")
    stalled.send_raw(RawWS.frame(2, mqtt_publish("stall/x", "y" * 1000))
                     [:20])
    stalled.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    other = Paho(d.ports["ws"], "websockets")
    other.sub("stall/#")
    pub = Paho(d.port)
    for i in range(200):
        pub.pub("stall/%d" % i, b"z" * 5000)
    for i in range(200):
        m = other.get()
        check(m.topic == "stall/%d" % i, "order: %s" % m.topic)
    other.close()
    pub.close()
    stalled.close()


class Trickler(threading.Thread):
    """Sends an HTTP request head one byte every second: the 10 s setup
    deadline must close it anyway (no slowloris)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.closed = threading.Event()
        self.start()

    def run(self):
        for b in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 100:
            try:
                self.sock.send(bytes([b]))
            except OSError:
                break
            self.sock.settimeout(1)
            try:
                if self.sock.recv(100) == b"":
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        self.closed.set()


def check_setup_cap(d):
    """More than 1024 connections in HTTP setup on one listener: the rest
    are refused at once, counted, logged once; other listeners and the
    broker carry on, and the listener accepts again when they are gone."""
    port = d.ports["ws2"]
    socks = [socket.create_connection(("127.0.0.1", port))
             for _ in range(1100)]
    refused = 0
    for s in socks[1024:]:
        s.settimeout(10)
        try:
            refused += s.recv(1) == b""
        except OSError:
            refused += 1
    check(refused == 76, "refused %d of 76" % refused)
    st, head, body = http_get(d.ports["ws"], "/metrics")
    check(metric(body.decode(), "firehose_mqtt_listener_setup_refused",
                 listener="web2") == 76, "setup_refused")
    check(d.logtext().count("connections in setup, refusing") == 1,
          "logged once")
    # (other processes: this one's descriptors are past select()'s reach)
    r = run(["mosquitto_pub", "-p", str(d.port), "-t", "cap", "-m", "x"])
    check(r.returncode == 0, "broker still serves: " + r.stderr)
    for s in socks:
        s.close()
    wait_for(lambda: http_get(port, "/healthz")[0] == 200,
             what="listener back")
    check("listener web2: accepting again" in d.logtext(), "recovery log")


STATE = {}


@fhtest.once
def daemon():
    """One daemon for the cases below (the last one stops it), with a
    client trickling its HTTP request from the start."""
    ports = {"ws": free_port(), "ws2": free_port()}
    ports["ws6"] = free_port(socket.AF_INET6, "::1") if have_ipv6() \
        else free_port()
    v6 = have_ipv6()
    if v6:
        ports["dual"] = free_port(socket.AF_INET6, "::1")
    d = Daemon(CONF + (DUAL if v6 else ""), ports=ports)
    for p in ("ws", "ws2"):
        wait_port(d.ports[p])
    STATE["slow"] = Trickler(d.ports["ws"])
    STATE["v6"] = v6
    return d


def test_dual_stack_listener_serves_both_families():
    d = daemon()
    if not STATE["v6"]:
        fhtest.skip_case("no IPv6 on loopback")
    for host, name in (("127.0.0.1", "all4"), ("::1", "all6")):
        wait_port(d.ports["dual"], host=host)
        st, _, body = http_get(d.ports["dual"], "/healthz", host=host)
        check(st == 200 and json.loads(body)["listener"] == name,
              "%s: %r" % (host, body))


def test_pages():
    check_pages(daemon())


def test_paho():
    check_paho(daemon())


def test_bad_upgrades():
    check_bad_upgrades(daemon())


def test_frames():
    check_frames(daemon())


def test_stall():
    check_stall(daemon())


def test_setup_cap():
    check_setup_cap(daemon())


def test_trickling_client_closed_at_the_setup_deadline():
    d = daemon()
    check(STATE["slow"].closed.wait(30), "trickling client never closed")
    wait_for(lambda: "HTTP request timed out" in d.logtext(),
             what="setup deadline logged")


def test_zz_one_warning_per_bad_peer_and_a_clean_exit():
    d = daemon()
    with d:
        log = d.logtext()
        check(log.count("websocket 127.0.0.1") >= 8, "one WARN per bad "
              "peer expected:\n" + log[-3000:])


fhtest.run_cases(globals())
