#!/usr/bin/python3
"""Per-session limits: an offline persistent session keeps at most
max_queued_messages QoS 1 messages, or max_queued_bytes of them; newer
ones are refused for that session (the oldest kept), counted, with one
log line when it becomes full and one when it has room again. The memory
ceiling (max_memory): over it QoS 1 queueing is refused and new clients
get CONNACK 3 (server unavailable), until memory falls again; QoS 0 for a
client with a backlog is dropped."""
import socket
import time

import fhtest
from fhtest import Daemon, check, free_port
from limitstest import LISTENERS, stat, wait_until
from mqtttest import Client, Raw, connect_pkt, publish_pkt, subscribe_pkt

CONF = """[broker]
sys_interval = 0
anonymous_publish = true
max_queued_messages = 50
max_queued_bytes = QBYTES
max_memory = MEM
session_expiry = EXPIRY
""" + LISTENERS


def conf(qbytes, mem, expiry):
    return CONF.replace("QBYTES", qbytes).replace("MEM", mem).replace(
        "EXPIRY", expiry)


def offline_session(port, cid, topic):
    r = Raw(port, connect_pkt(cid, clean=False))
    r.send(subscribe_pkt(1, [(topic, 1)]))
    check(r.read()[0] == 9, "SUBACK")
    r.send(b"\xe0\x00")     # DISCONNECT
    r.closed()


def publish_qos1(port, topic, n, size):
    """n QoS 1 messages 'seq:padding', each acknowledged."""
    p = Raw(port, connect_pkt("pub-" + topic))
    for i in range(n):
        body = ("%d:" % i).encode().ljust(size, b"x")
        p.send(publish_pkt(topic, body, qos=1, mid=i + 1))
    for i in range(n):
        a = p.read()
        check(a is not None and a[0] == 4, "no PUBACK %d: %r" % (i, a))
    p.close()


def drain(port, cid):
    """Resume cid, acknowledge and return the sequence numbers it gets."""
    r = Raw(port, connect_pkt(cid, clean=False))
    seqs = []
    while True:
        m = r.read_publish(timeout=2)
        if m is None:
            break
        seqs.append(int(m[1].split(b":")[0]))
        r.send(bytes([0x40, 2]) + m[3].to_bytes(2, "big"))
    r.send(b"\xe0\x00")
    r.close()
    return seqs


def test_per_session_limits_count_and_bytes():
    # per-session limits: count (small messages) and bytes (1 kB ones)
    with Daemon(conf("20k", "0", "1d"),
                ports={"ws": free_port()}) as d:
        offline_session(d.port, "count", "t/count")
        offline_session(d.port, "bytes", "t/bytes")
        publish_qos1(d.port, "t/count", 120, 10)
        publish_qos1(d.port, "t/bytes", 120, 1000)
        check(stat(d, "dropped", reason="queue_full") == 70,
              "queue_full: %d" % stat(d, "dropped", reason="queue_full"))
        nb = 120 - stat(d, "dropped", reason="queue_bytes")
        check(15 <= nb <= 20, "bytes session kept %d of 1 kB" % nb)
        check(stat(d, "sessions_full") == 2, "two sessions full")
        log = d.logtext()
        check(log.count("mqtt count: queue full (max_queued_messages") == 1,
              "one 'queue full' line for count")
        check(log.count("mqtt bytes: queue full (max_queued_bytes") == 1,
              "one 'queue full' line for bytes")
        # the oldest are kept, in order; the newest were refused
        check(drain(d.port, "count") == list(range(50)), "count: 0..49")
        check(drain(d.port, "bytes") == list(range(nb)), "bytes: 0..%d" % nb)
        wait_until(lambda: stat(d, "sessions_full") == 0, 10,
                   "sessions to have room")
        check(d.logtext().count("queue has room again (70 ") == 1,
              "one 'room again' line")
        check(stat(d, "memory_queued") == 0, "nothing queued at the end")
        # room again: the session takes new messages
        c = Client(d.port, "count", clean=False)
        c.close()
        publish_qos1(d.port, "t/count", 5, 10)
        check(drain(d.port, "count") == list(range(5)), "count after room")


def test_memory_ceiling_for_the_whole_broker():
    # the memory ceiling: 32k of queued messages for a whole broker
    with Daemon(conf("16M", "32k", "2s"),
                ports={"ws": free_port()}) as d:
        offline_session(d.port, "mem", "t/mem")
        publish_qos1(d.port, "t/mem", 100, 1000)
        refused = stat(d, "dropped", reason="memory_limit")
        check(65 <= refused <= 72, "memory_limit refusals: %d" % refused)
        check(stat(d, "memory_used") > 32 * 1024, "over the ceiling")
        check("memory over max_memory" in d.logtext(), "ceiling logged")
        # over the ceiling a new client gets CONNACK 3
        r = Raw(d.port)
        r.send(connect_pkt("late"))
        p = r.read()
        check(p is not None and p[0] == 2 and p[2][1] == 3,
              "CONNACK 3 over max_memory: %r" % (p,))
        check(r.closed(), "refused client closed")
        check(stat(d, "errors", reason="memory_limit") >= 1, "counted")
        # the offline session expires, memory falls, clients get in again
        wait_until(lambda: stat(d, "memory_used") == 0, 20,
                   "the session to expire")
        c = Client(d.port, "late")
        c.close()
        check("memory back under max_memory" in d.logtext(),
              "recovery logged")
        check(d.logtext().count("memory over max_memory") == 1,
              "one line per state change")


def test_qos0_dropped_over_the_ceiling_for_a_client_with_a_backlog():
    # over the ceiling through output buffers: QoS 0 is dropped for a
    # client with a backlog (under max_output_buffer), not for others
    with Daemon(conf("16M", "256k", "1d").replace(
            "[broker]", "[broker]\nmax_output_buffer = 4M"),
            ports={"ws": free_port()}) as d:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", d.port))
        s.sendall(connect_pkt("stuck") + subscribe_pkt(1, [("q0", 0)]))
        time.sleep(0.5)
        p = Raw(d.port, connect_pkt("flooder"))
        for i in range(3000):
            p.send(publish_pkt("q0", b"x" * 1000))
        wait_until(lambda: stat(d, "dropped", reason="qos0_memory") > 0,
                   20, "QoS 0 dropped over max_memory")
        check(stat(d, "dropped", reason="qos0_slow_consumer") == 0,
              "max_output_buffer not reached")
        check(stat(d, "memory_output") <= 512 * 1024,
              "output held near the ceiling: %d" % stat(d, "memory_output"))
        p.close()
        s.close()



fhtest.run_cases(globals())
