#!/usr/bin/python3
"""[gateway] threads: plain TCP connections spread over worker event
loops (docs/performance.md), and every broker behaviour that crosses a
connection still holds when the two ends sit on different loops:
fan-out in order at every QoS, large payloads, takeover of a client id,
keepalive, wills, slow consumers, a stop with clients connected."""
import os
import socket
import subprocess
import time

import fhtest
import mqtttest
from fhtest import FIREHOSED, Daemon, check
from mqtttest import (Client, Raw, ack_pkt, connect_pkt, connect5_pkt,
                      publish_pkt, subscribe_pkt)
from transport import Paho, http_get, make_pki, metric, wait_for

CONF = """[gateway]
threads = {threads}
[broker]
anonymous_publish = true
sys_interval = 0
{broker}
[listener mqtt]
bind = 127.0.0.1:{{port}}
[listener web]
protocol = ws
bind = 127.0.0.1:{{web}}
"""


def daemon(threads=4, broker=""):
    return Daemon(CONF.format(threads=threads, broker=broker),
                  ports={"web": fhtest.free_port()})


def tasks(d):
    return len(os.listdir("/proc/%d/task" % d.proc.pid))


def metrics(d):
    st, _, body = http_get(d.ports["web"], "/metrics")
    check(st == 200, "/metrics: %s" % st)
    return body.decode()


def test_threads_4_makes_three_workers_and_spreads_connections():
    with daemon(4) as d:
        d.wait_log("4 event loops (threads = 4)")
        check(tasks(d) >= 4, "%d threads, want at least 4" % tasks(d))
        before = metrics(d)
        conns = [Raw(d.port, connect_pkt("c%d" % i)) for i in range(9)]
        m = metrics(d)
        check(metric(m, "firehose_loops_threads") == 4, "threads metric")
        for w in (1, 2, 3):
            name = "firehose_loops_worker%d_" % w
            check(metric(m, name + "open") == 3 and
                  metric(m, name + "connections") -
                  metric(before, name + "connections") == 3,
                  "worker %d holds 3 of 9: %r" % (w, [
                      ln for ln in m.splitlines() if "loops" in ln]))
        for c in conns:
            c.close()
        wait_for(lambda: all(
            metric(metrics(d), "firehose_loops_worker%d_open" % w) == 0
            for w in (1, 2, 3)), what="workers to let go")


def test_threads_1_is_one_loop():
    with daemon(1) as d:
        c = Raw(d.port, connect_pkt("one"))
        check(tasks(d) == 1, "threads = 1 runs %d threads" % tasks(d))
        check("event loops" not in d.logtext(), "no loops line")
        m = metrics(d)
        check(metric(m, "firehose_loops_threads") == 1, "threads metric")
        check(metric(m, "firehose_loops_worker1_open") is None,
              "no worker")
        c.close()


def test_threads_default_is_one_per_cpu():
    n = os.cpu_count() or 1
    forced = os.environ.pop("FH_TEST_THREADS", None)   # the default here
    try:
        d = Daemon("[broker]\n[listener mqtt]\nbind = 127.0.0.1:{port}\n")
    finally:
        if forced is not None:
            os.environ["FH_TEST_THREADS"] = forced
    with d:
        if n > 1:
            d.wait_log("%d event loops (threads = 0)" % n)
            check(tasks(d) >= n, "%d threads for %d cpus" % (tasks(d), n))
        else:
            check("event loops" not in d.logtext(), "1 cpu: one loop")


def test_threads_out_of_range_is_a_config_error():
    for bad in ("-1", "257", "many"):
        conf = os.path.join(fhtest.tempfile.mkdtemp(), "f.conf")
        with open(conf, "w") as f:
            f.write("[gateway]\nthreads = %s\n" % bad)
        r = subprocess.run([FIREHOSED, "-t", "-c", conf],
                           capture_output=True, text=True, timeout=20)
        check(r.returncode == 1, "threads = %s accepted" % bad)
        check("threads" in r.stdout, "names the key: %r" % r.stdout)


def test_fanout_across_loops_in_order_every_qos():
    """Twelve subscribers over three workers, one publisher on another:
    each gets every message once, in order, at its QoS."""
    with daemon(4) as d:
        subs = []
        for i in range(12):
            s = Raw(d.port, connect_pkt("s%d" % i))
            q = i % 3
            s.send(subscribe_pkt(1, [("f/#", q)]))
            p = s.read()
            check(p[0] == 9 and p[2][-1] == q, "SUBACK %r" % (p,))
            subs.append((s, q))
        p = Client(d.port, "pub")
        n = 200
        for k in range(n):
            p.pub("f/%d" % (k % 5), "m%d" % k, qos=k % 3)
        p.sync()
        for s, q in subs:
            got, rels, want_rels = [], 0, 0
            while len(got) < n or rels < want_rels:
                r = s.read()
                check(r is not None, "sub q%d: %d of %d" % (q, len(got), n))
                if r[0] == 6:           # PUBREL
                    rels += 1
                    s.send(ack_pkt("pubcomp", int.from_bytes(r[2][:2],
                                                             "big")))
                    continue
                check(r[0] == 3, "packet type %d" % r[0])
                s.buf = mqtttest.packet((3 << 4) | r[1], r[2]) + s.buf
                topic, payload, got_q, mid, _, _ = s.read_publish()
                k = int(payload[1:])
                check(got_q == min(q, k % 3), "m%d at qos %d" % (k, got_q))
                got.append(k)
                if got_q == 1:
                    s.send(ack_pkt("puback", mid))
                elif got_q == 2:
                    s.send(ack_pkt("pubrec", mid))
                    want_rels += 1
            check(sorted(got) == list(range(n)), "q%d: each once" % q)
            # ordered per QoS (a QoS 0 message may pass a QoS 1 one
            # waiting for room in the in-flight window)
            for pq in range(3):
                ks = [k for k in got if k % 3 == pq]
                check(ks == sorted(ks), "q%d: qos %d out of order" % (q, pq))
            s.nothing()
        p.close()
        for s, _ in subs:
            s.close()


def test_large_payloads_reach_threaded_subscribers_whole():
    """Over 2 kB a message is shared by reference on the main loop, and
    copied for a worker's connection: both arrive intact."""
    with daemon(4) as d:
        subs = [Raw(d.port, connect_pkt("big%d" % i)) for i in range(3)]
        for s in subs:
            s.send(subscribe_pkt(1, [("big", 1)]))
            check(s.read()[0] == 9, "SUBACK")
        p = Client(d.port, "bigpub")
        payloads = [bytes([k]) * (k * 40000 + 3000) for k in range(1, 5)]
        for pl in payloads:
            p.pub("big", pl, qos=1)
        for s in subs:
            for pl in payloads:
                topic, payload, q, mid, _, _ = s.read_publish()
                check(payload == pl, "%d bytes, want %d" % (
                    len(payload), len(pl)))
                s.send(ack_pkt("puback", mid))
        p.close()


def test_takeover_across_loops():
    """The same client id on another worker takes the session over: the
    first connection is closed, queued QoS 1 goes to the second."""
    with daemon(4) as d:
        a = Raw(d.port, connect_pkt("same", clean=False))
        a.send(subscribe_pkt(1, [("to/#", 1)]))
        check(a.read()[0] == 9, "SUBACK")
        b = Raw(d.port, connect_pkt("same", clean=False))
        check(b.connack[0] == 1, "session present: %r" % b.connack)
        check(a.closed(), "first connection not closed")
        pub = Raw(d.port, connect_pkt("tp"))
        pub.send(publish_pkt("to/x", b"after", qos=1, mid=3))
        check(pub.read()[0] == 4, "PUBACK")
        topic, payload, q, mid, _, _ = b.read_publish()
        check((topic, payload, q) == ("to/x", b"after", 1), "delivered")
        b.send(ack_pkt("puback", mid))
        b.nothing()


def test_keepalive_and_will_on_a_worker():
    with daemon(4) as d:
        w = Raw(d.port, connect_pkt("watch"))
        w.send(subscribe_pkt(1, [("will/#", 0)]))
        check(w.read()[0] == 9, "SUBACK")
        t0 = time.time()
        quiet = Raw(d.port, connect_pkt("quiet", keepalive=1,
                                        will=("will/quiet", "gone", 0, False)))
        check(quiet.closed(timeout=5), "keepalive 1 s not enforced")
        check(time.time() - t0 < 4, "closed late")
        r = w.read_publish()
        check(r is not None and r[:2] == ("will/quiet", b"gone"),
              "will: %r" % (r,))
        crash = Raw(d.port, connect_pkt("crash", will=("will/c", "x", 0, False)))
        crash.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                           b"\1\0\0\0\0\0\0\0")
        crash.close()
        r = w.read_publish()
        check(r is not None and r[:2] == ("will/c", b"x"), "will on RST")


def slow_consumer(threads):
    """A QoS 1 subscriber that reads nothing: once its output holds
    more than max_output_buffer_hard it is cut off; a reading one on
    the same topic gets everything."""
    with daemon(threads, "max_output_buffer = 500000\n"
                "max_output_buffer_hard = 1000000\n"
                "max_inflight_messages = 1000") as d:
        slow = socket.create_connection(("127.0.0.1", d.port))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(connect_pkt("slow") + subscribe_pkt(1, [("s", 1)]))
        fast = Raw(d.port, connect_pkt("fast"))
        fast.send(subscribe_pkt(1, [("s", 0)]))
        check(fast.read()[0] == 9, "SUBACK")
        p = Raw(d.port, connect_pkt("sp"))
        blob = b"x" * 150000
        closed = False
        for k in range(200):
            p.send(publish_pkt("s", blob, qos=1, mid=k + 1))
            check(p.read()[0] == 4, "PUBACK")
            r = fast.read_publish()
            check(r is not None and r[1] == blob, "fast missed %d" % k)
            if "over max_output_buffer_hard" in d.logtext():
                closed = True
                break
        check(closed, "slow consumer not cut off after %d MB" % (
            (k + 1) * len(blob) >> 20))
        fast.nothing()


def test_slow_consumer_on_a_worker_is_cut_off_not_others():
    slow_consumer(4)


def test_slow_consumer_on_the_main_loop_is_cut_off_not_others():
    slow_consumer(1)


TLS_CONF = """[gateway]
threads = 4
[broker]
anonymous_publish = true
sys_interval = 0
[listener tls]
protocol = mqtts
bind = 127.0.0.1:{port}
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
[listener web]
protocol = ws
bind = 127.0.0.1:{web}
"""


def test_mqtts_writes_on_the_workers():
    """mqtts connections write (SSL_write) on the workers once their
    handshake is done: fan-out of small and large QoS 1 messages
    arrives whole and in order, and they count in the spread."""
    tmp = fhtest.tempfile.mkdtemp(prefix="fh-test-")
    pki = make_pki(tmp)
    with Daemon(TLS_CONF, tmp=tmp, ports={"web": fhtest.free_port()}) as d:
        before = metrics(d)
        subs = [Paho(d.port, "tcp", ca=pki["ca"], client_id="t%d" % i,
                     host="localhost") for i in range(3)]
        for s in subs:
            s.sub("tls/#", 1)
        m = metrics(d)
        spread = [metric(m, "firehose_loops_worker%d_open" % w) for w in
                  (1, 2, 3)]
        check(spread == [1, 1, 1], "3 TLS subscribers on 3 workers: %r"
              % spread)
        p = Paho(d.port, "tcp", ca=pki["ca"], client_id="tp",
                 host="localhost")
        sent = []
        for k in range(60):
            pl = (b"%d:" % k) + bytes([65 + k % 26]) * (
                70000 if k % 10 == 0 else 200)
            p.pub("tls/%d" % (k % 3), pl, qos=1)
            sent.append(pl)
        for s in subs:
            got = [s.msgs.get(timeout=20).payload for _ in sent]
            check(got == sent, "a TLS subscriber got %d messages, first "
                  "wrong at %r" % (len(got), next(
                      (i for i, (a, b) in enumerate(zip(got, sent))
                       if a != b), None)))
        for c in subs + [p]:
            c.close()
        check(metric(metrics(d), "firehose_loops_worker1_connections") -
              metric(before, "firehose_loops_worker1_connections") >= 1,
              "worker1 took a TLS connection")


def test_stop_with_clients_on_every_loop():
    """SIGTERM with 5.0 clients on the workers: each gets DISCONNECT
    0x8B (server shutting down) and the daemon exits 0."""
    with daemon(4) as d:
        cs = [Raw(d.port, connect5_pkt("v5-%d" % i)) for i in range(6)]
        d.stop()
        for c in cs:
            p = c.read(5)
            check(p is not None and p[0] == 14 and p[2][:1] == b"\x8b",
                  "DISCONNECT 0x8B: %r" % (p,))


fhtest.run_cases(globals())
