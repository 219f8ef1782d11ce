#!/usr/bin/python3
"""A slow-subscriber flood: a subscriber that never reads (QoS 1 on
flood/#) while a publisher floods 40 MB of QoS 0 and 3 MB of QoS 1. The
daemon's RSS (VmRSS, sampled) stays bounded, the counters show the QoS 0
drops and the QoS 1 refusals for the full session, and a normal
subscriber gets every QoS 1 message, in order."""
import socket
import threading
import time

import fhtest
from fhtest import Daemon, check, free_port
from limitstest import (LISTENERS, asan_env, is_asan, rss_kb, stat,
                        wait_until)
from mqtttest import Client, Raw, connect_pkt, publish_pkt, subscribe_pkt

N0, N1, SIZE = 40000, 3000, 1000
WINDOW = 300

CONF = """[broker]
sys_interval = 0
anonymous_publish = true
max_output_buffer = 256k
max_output_buffer_hard = 64M
max_queued_bytes = 1M
""" + LISTENERS


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.max, self.stop = pid, 0, threading.Event()

    def run(self):
        while not self.stop.wait(0.1):
            self.max = max(self.max, rss_kb(self.pid))


def slow_subscriber(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    r = Raw.__new__(Raw)
    r.s, r.buf = s, b""
    r.send(connect_pkt("slow", clean=False))
    check(r.read()[0] == 2, "CONNACK")
    r.send(subscribe_pkt(1, [("flood/#", 1)]))
    check(r.read()[0] == 9, "SUBACK")
    return r


def flood(port, normal, got):
    """QoS 0 and QoS 1 interleaved; returns when every PUBACK is in. QoS 1
    goes at most WINDOW ahead of the normal subscriber (one that keeps up
    is not a slow consumer, however loaded the machine)."""
    p = Raw(port, connect_pkt("flooder"))
    acks = []

    def reader():
        while len(acks) < N1:
            a = p.read(60)
            if a is None:
                return
            acks.append(a)
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    body = b"x" * SIZE
    q1 = 0

    def send_q1():
        nonlocal q1
        deadline = time.time() + 60
        while q1 - len(got) >= WINDOW and time.time() < deadline:
            m = normal.get(0.1)
            if m is not None:
                got.append(int(m.payload.split(b":")[0]))
        q1 += 1
        p.send(publish_pkt("flood/q1", b"%d:" % q1 + body, qos=1, mid=q1))
    for i in range(N0):
        p.send(publish_pkt("flood/q0", body))
        if i % (N0 // N1) == 0 and q1 < N1:
            send_q1()
    while q1 < N1:
        send_q1()
    t.join(120)
    check(len(acks) == N1, "%d of %d PUBACKs" % (len(acks), N1))
    p.close()


def test_flood_to_a_slow_subscriber_is_bounded():
    asan_env()
    with Daemon(CONF, ports={"ws": free_port()}) as d:
        pid = d.proc.pid
        normal = Client(d.port, "normal")
        normal.sub("flood/q1", 1)
        warm = Client(d.port, "warm")
        for i in range(200):
            warm.pub("warm", "x" * SIZE, qos=1)
        warm.close()
        time.sleep(0.5)
        base = rss_kb(pid)
        slow = slow_subscriber(d.port)
        sampler = Sampler(pid)
        sampler.start()
        got = []
        flood(d.port, normal, got)
        deadline = time.time() + 60
        while len(got) < N1 and time.time() < deadline:
            m = normal.get(1)
            if m is not None:
                got.append(int(m.payload.split(b":")[0]))
        sampler.stop.set()
        sampler.join()
        check(got == list(range(1, N1 + 1)),
              "normal subscriber got %d of %d QoS 1, in order" % (
                  len(got), N1))
        drop0 = stat(d, "dropped", reason="qos0_slow_consumer")
        refused = (stat(d, "dropped", reason="queue_bytes") +
                   stat(d, "dropped", reason="queue_full"))
        # the normal subscriber's acknowledgements may still be coming
        try:
            wait_until(lambda: stat(d, "memory_queued") <=
                       1024 * 1024 + 2 * SIZE, 10, "the normal acks")
        except AssertionError:
            pass
        queued = stat(d, "memory_queued")
        print("RSS baseline %d kB, peak %d kB during %d MB of flood; "
              "%d QoS 0 dropped, %d QoS 1 refused, %d bytes queued" % (
                  base, sampler.max, (N0 + N1) * SIZE >> 20, drop0,
                  refused, queued))
        check(drop0 > N0 / 2, "QoS 0 drops counted: %d" % drop0)
        check(refused > N1 / 2, "QoS 1 refusals counted: %d" % refused)
        check(stat(d, "sessions_full") == 1, "the slow session is full")
        check(queued <= 1024 * 1024 + 2 * SIZE, "queue over its bytes")
        check(stat(d, "dropped", reason="slow_consumer_disconnect") == 0,
              "not disconnected")
        # bounded: far less than the flood, whatever the build
        volume = (N0 + N1) * SIZE // 1024
        check(sampler.max - base < volume / 2,
              "RSS grew %d kB for a %d kB flood" % (
                  sampler.max - base, volume))
        slow.close()
        normal.close()
        print("asan" if is_asan(pid) else "plain", "build")


fhtest.run_cases(globals())
