#!/usr/bin/python3
"""Soak: FH_SOAK_SECONDS (default 120) of mixed load: two publishers
(QoS 0 and 1, sizes 10 B .. 2 kB), subscribers connecting and leaving
(clean and persistent, some dropping the socket), a subscriber that never
reads, malformed clients, and one steady QoS 1 subscriber. VmRSS is
sampled every second; it must level off: the highest sample of the last
window is within a margin of the highest of the window right after the
warm-up (no timed assertion on speed). The daemon still serves and exits
cleanly."""
import os
import random
import socket
import threading
import time

import fhtest
from fhtest import Daemon, check, free_port
from limitstest import LISTENERS, asan_env, is_asan, rss_kb, stat
from mqtttest import Client, Raw, connect_pkt, publish_pkt, subscribe_pkt

SECONDS = int(os.environ.get("FH_SOAK_SECONDS", "120"))

CONF = """[broker]
sys_interval = 1s
anonymous_publish = true
max_queued_messages = 500
max_queued_bytes = 256k
max_output_buffer = 128k
max_output_buffer_hard = 4M
""" + LISTENERS

stop = threading.Event()
counts = {"pub": 0, "sub": 0, "bad": 0, "errors": []}


def guarded(fn):
    def run(*a):
        while not stop.is_set():
            try:
                fn(*a)
            except (OSError, EOFError, AssertionError) as e:
                if not stop.is_set():
                    counts["errors"].append("%s: %r" % (fn.__name__, e))
                    time.sleep(0.2)
    return run


@guarded
def publisher(port, n):
    p = Raw(port, connect_pkt("soak-pub-%d" % n))
    rnd = random.Random(n)
    mid = 0

    def reader():
        try:
            while p.read(30) is not None:
                pass
        except (OSError, EOFError):
            pass
    threading.Thread(target=reader, daemon=True).start()
    while not stop.is_set():
        for i in range(40):
            body = b"x" * rnd.randint(10, 2000)
            qos = 1 if i % 4 == 0 else 0
            if qos:
                mid = mid % 65535 + 1
            p.send(publish_pkt("soak/%d/%d" % (n, i % 8), body, qos=qos,
                               mid=mid))
            counts["pub"] += 1
        time.sleep(0.02)
    p.close()


@guarded
def churn(port, n):
    rnd = random.Random(100 + n)
    persistent = rnd.random() < 0.5
    cid = ("soak-p%d" % rnd.randint(0, 9)) if persistent else \
        "soak-c%d-%d" % (n, rnd.randint(0, 1 << 30))
    r = Raw(port, connect_pkt(cid, clean=not persistent))
    r.send(subscribe_pkt(1, [("soak/%d/#" % rnd.randint(0, 1),
                               rnd.randint(0, 1))]))
    deadline = time.time() + rnd.uniform(0.2, 2.0)
    while time.time() < deadline and not stop.is_set():
        m = r.read(0.2)
        if m is None:
            continue
        if m[0] == 3:
            counts["sub"] += 1
            if (m[1] >> 1) & 3:
                tl = int.from_bytes(m[2][:2], "big")
                r.send(bytes([0x40, 2]) + m[2][2 + tl:4 + tl])
    if rnd.random() < 0.5:
        r.send(b"\xe0\x00")
    r.close()


BAD = [b"\x10\xff\xff\xff\xff\x7f",                     # bad length
       b"\x30\x05\x00\x01a",                              # before CONNECT
       b"\x10\x0c\x00\x04MQTT\x09\x02\x00\x3c\x00\x00",   # bad level
       b"\x00\x00", os.urandom(64)]


@guarded
def malformed(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(random.choice(BAD))
    if random.random() < 0.5:
        try:
            s.recv(16)
        except OSError:
            pass
    s.close()
    counts["bad"] += 1
    time.sleep(0.05)


@guarded
def slow(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(connect_pkt("soak-slow", clean=False) +
              subscribe_pkt(1, [("soak/#", 1)]))
    stop.wait(10)
    s.close()


def test_soak_under_mixed_abuse():
    asan_env()
    with Daemon(CONF, ports={"ws": free_port()}) as d:
        pid = d.proc.pid
        steady = Client(d.port, "soak-steady")
        steady.sub("soak/1/0", 1)
        threads = [threading.Thread(target=publisher, args=(d.port, n))
                   for n in range(2)]
        threads += [threading.Thread(target=churn, args=(d.port, n))
                    for n in range(4)]
        threads += [threading.Thread(target=malformed, args=(d.port,)),
                    threading.Thread(target=slow, args=(d.port,))]
        for t in threads:
            t.daemon = True
            t.start()
        samples = []
        start = time.time()
        got = 0
        while time.time() - start < SECONDS:
            samples.append(rss_kb(pid))
            t1 = time.time() + 1
            while time.time() < t1:
                if steady.get(max(0.01, t1 - time.time())) is not None:
                    got += 1
        stop.set()
        for t in threads:
            t.join(30)
        check(d.alive(), "daemon alive")
        # still serving
        steady.pub("soak/1/0", "end", qos=1)
        m = None
        deadline = time.time() + 30
        while time.time() < deadline:
            m = steady.get(1)
            if m is not None and m.payload == b"end":
                break
        check(m is not None and m.payload == b"end", "served after soak")
        steady.close()
        warm = min(30, SECONDS // 4)
        win = min(30, SECONDS // 4)
        early = max(samples[warm:warm + win])
        late = max(samples[-win:])
        print("soak %d s (%s build): %d published, %d delivered to churning "
              "subscribers, %d to the steady one, %d malformed clients" % (
                  SECONDS, "asan" if is_asan(pid) else "plain",
                  counts["pub"], counts["sub"], got, counts["bad"]))
        print("RSS kB every 5 s:", " ".join(str(x) for x in samples[::5]))
        print("RSS: start %d, max of s %d-%d: %d, max of last %d s: %d, "
              "peak %d kB" % (samples[0], warm, warm + win, early, win, late,
                              max(samples)))
        print("dropped qos0 %d, queue %d, errors malformed %d protocol %d"
              % (stat(d, "dropped", reason="qos0_slow_consumer"),
                 stat(d, "dropped", reason="queue_full") +
                 stat(d, "dropped", reason="queue_bytes"),
                 stat(d, "errors", reason="malformed"),
                 stat(d, "errors", reason="protocol")))
        if counts["errors"]:
            print("client errors (%d), first: %s" % (
                len(counts["errors"]), counts["errors"][:3]))
        check(counts["pub"] > 0 and counts["sub"] > 0 and got > 0,
              "load ran")
        check(len(counts["errors"]) <= SECONDS // 10,
              "%d client errors" % len(counts["errors"]))
        check(late <= early * 1.15 + 4096,
              "RSS still growing: %d kB late vs %d kB after warm-up" % (
                  late, early))
    # Daemon.__exit__: SIGTERM, exit status 0, no sanitizer report


fhtest.run_cases(globals())
