#!/usr/bin/python3
"""100,000 idle MQTT connections against a private firehosed (issue 14).

Starts its own firehosed (config in a temp dir, a free loopback port,
max_connections = 0) with RLIMIT_NOFILE raised for itself and the daemon,
opens N MQTT 3.1.1 connections (clean session, keep alive 0) spread over
the source addresses 127.0.0.2 .. 127.0.0.(1+A) so that no address runs
out of ephemeral ports, each with one SUBSCRIBE (QoS 1) to idle/<i % T>.
Once every SUBACK is in it samples the daemon's VmRSS, publishes one
message to each of the T topics at QoS 0 and then at QoS 1 (so that every
connection should receive exactly one of each, and acknowledges the QoS 1
one), counts per connection what arrived, closes every client and samples
RSS again after they left. With -m, the same against Mosquitto in the
same run. Prints a table and one RESULT line per broker.

    tools/bench-100k.py [-n N] [-a ADDRS] [-t TOPICS] [-m] [-B BUILDDIR]

Also: the broker's CPU while all are idle (--idle, timers that walk every
session), and with -v firehosed's heap in use after the clients left.
--daemon-nofile L gives the broker a lower descriptor limit, to watch it
run out (accept paused, counted as accept_pauses; the connections not
answered within -w are counted as refused).

Each side needs N + 32 descriptors: without CAP_SYS_RESOURCE the hard
RLIMIT_NOFILE caps N (the tool says so and stops).

Loopback only; every phase is bounded in time (-w). It is a benchmark,
not a test: tests/integration/92-bench-100k-smoke.py runs it small.
"""
import argparse
import errno
import os
import resource
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
IP_BIND_ADDRESS_NO_PORT = 24    # linux/in.h: port chosen at connect()
INFLIGHT = 512          # connects awaiting their SUBACK at once


def rlen(n):
    out = b""
    while True:
        d = n % 128
        n //= 128
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out


def mstr(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def connect_pkt(cid, keepalive):
    body = mstr("MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive) \
        + mstr(cid)
    return b"\x10" + rlen(len(body)) + body


def subscribe_pkt(pid, topic, qos):
    body = struct.pack("!H", pid) + mstr(topic) + bytes([qos])
    return b"\x82" + rlen(len(body)) + body


def publish_pkt(topic, payload, qos, pid=0):
    body = mstr(topic) + (struct.pack("!H", pid) if qos else b"") + payload
    return bytes([0x30 | (qos << 1)]) + rlen(len(body)) + body


def packets(buf):
    """Split complete packets off buf: ([(type, flags, body)], rest)."""
    out = []
    while len(buf) >= 2:
        n, mul, i = 0, 1, 1
        while True:
            if i >= len(buf):
                return out, buf
            b = buf[i]
            n += (b & 0x7f) * mul
            mul *= 128
            i += 1
            if not b & 0x80:
                break
        if len(buf) < i + n:
            break
        out.append((buf[0] >> 4, buf[0] & 0x0f, buf[i:i + n]))
        buf = buf[i + n:]
    return out, buf


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def cpu_ms(pid):
    """utime + stime of pid, in ms."""
    with open("/proc/%d/stat" % pid) as f:
        f = f.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def raise_nofile(need):
    """Soft (and, as root, hard) RLIMIT_NOFILE to at least need; children
    inherit it. Returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    want = need
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            with open("/proc/sys/fs/nr_open") as f:
                want = min(need, int(f.read()))
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (OSError, ValueError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


class Client:
    """One raw MQTT client on a blocking socket (the publisher)."""

    def __init__(self, port, cid):
        self.s = socket.create_connection(("127.0.0.1", port), 10)
        self.buf = b""
        self.s.sendall(connect_pkt(cid, 0))
        t, _, body = self.read()
        if t != 2 or body[1] != 0:
            raise RuntimeError("publisher: CONNACK %r" % body)

    def read(self):
        while True:
            p, self.buf = packets(self.buf)
            if p:
                self.buf = b"".join(
                    bytes([x[0] << 4 | x[1]]) + rlen(len(x[2])) + x[2]
                    for x in p[1:]) + self.buf
                return p[0]
            d = self.s.recv(65536)
            if not d:
                raise RuntimeError("publisher: closed")
            self.buf += d

    def close(self):
        self.s.close()


class Swarm:
    """N idle subscribers on non-blocking sockets under one epoll."""

    def __init__(self, port, n, addrs, topics, keepalive, deadline):
        self.port, self.n, self.addrs = port, n, addrs
        self.topics, self.keepalive = topics, keepalive
        self.deadline = deadline
        self.ep = select.epoll()
        self.socks = {}     # fd -> socket
        self.index = {}     # fd -> client number
        self.buf = {}       # fd -> partial packet bytes
        self.acked = 0      # SUBACK with a granted QoS
        self.acked_fds = set()
        self.refused = 0    # CONNACK != 0, SUBACK 0x80, closed, errors
        self.errors = {}
        self.got = None     # client -> [qos0 count, qos1 count]

    def error(self, what):
        self.errors[what] = self.errors.get(what, 0) + 1

    def drop(self, fd):
        s = self.socks.pop(fd, None)
        if s is not None:
            self.ep.unregister(fd)
            s.close()
        self.buf.pop(fd, None)

    def open_one(self, i):
        addr = self.addrs[i * len(self.addrs) // self.n]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.setblocking(False)
        try:
            s.bind((addr, 0))
            s.connect_ex(("127.0.0.1", self.port))
        except OSError as e:
            s.close()
            self.refused += 1
            self.error("connect %s" % errno.errorcode.get(e.errno, e))
            return False
        fd = s.fileno()
        self.socks[fd] = s
        self.index[fd] = i
        self.ep.register(fd, select.EPOLLOUT)
        return True

    def connect_all(self):
        """Returns the seconds it took until every SUBACK was in."""
        t0 = time.monotonic()
        nxt, pending = 0, 0
        while self.acked + self.refused < self.n:
            while nxt < self.n and pending < INFLIGHT:
                if self.open_one(nxt):
                    pending += 1
                nxt += 1
            if time.monotonic() > self.deadline:
                # not accepted or not answered: counted, not waited for
                for fd in [fd for fd in self.socks
                           if fd not in self.acked_fds]:
                    self.error("no SUBACK within -w")
                    self.drop(fd)
                    self.refused += 1
                self.refused += self.n - nxt
                break
            for fd, ev in self.ep.poll(1.0):
                s = self.socks.get(fd)
                if s is None:
                    continue
                if ev & select.EPOLLOUT:
                    err = s.getsockopt(socket.SOL_SOCKET,
                        socket.SO_ERROR)
                    if err:
                        self.error("connect %s" %
                            errno.errorcode.get(err, err))
                        self.drop(fd)
                        self.refused += 1
                        pending -= 1
                        continue
                    i = self.index[fd]
                    pkt = connect_pkt("idle%d" % i,
                        self.keepalive) + subscribe_pkt(1,
                        "idle/%d" % (i % self.topics), 1)
                    try:
                        s.send(pkt)
                    except OSError as e:
                        self.error("send %s" % e)
                        self.drop(fd)
                        self.refused += 1
                        pending -= 1
                        continue
                    self.ep.modify(fd, select.EPOLLIN)
                    continue
                r = self.handshake(fd, s)
                if r is not None:
                    pending -= 1
                    if r:
                        self.acked += 1
                        self.acked_fds.add(fd)
                    else:
                        self.refused += 1
        return time.monotonic() - t0

    def handshake(self, fd, s):
        """CONNACK + SUBACK: True, False (refused or closed), None
        (not all in yet)."""
        try:
            d = s.recv(4096)
        except OSError as e:
            self.error("recv %s" % e)
            self.drop(fd)
            return False
        if not d:
            self.error("closed before SUBACK")
            self.drop(fd)
            return False
        b = self.buf.pop(fd, b"") + d
        p, rest = packets(b)
        if len(p) < 2:
            self.buf[fd] = b
            return None
        (t1, _, b1), (t2, _, b2) = p[0], p[1]
        if t1 != 2 or len(b1) != 2 or b1[1] != 0:
            self.error("CONNACK %r" % b1)
            self.drop(fd)
            return False
        if t2 != 9 or len(b2) != 3 or b2[2] & 0x80:
            self.error("SUBACK %r" % b2)
            self.drop(fd)
            return False
        if rest:
            self.buf[fd] = rest
        return True

    def deliveries(self, qos, expect, deadline):
        """Reads until every live client got expect messages of this
        QoS (acknowledging QoS 1) or the deadline; returns the clients
        that fell short."""
        if self.got is None:
            self.got = {fd: [0, 0] for fd in self.socks}
        short = {fd for fd in self.socks
            if self.got[fd][qos] < expect}
        while short and time.monotonic() < deadline:
            for fd, ev in self.ep.poll(1.0):
                s = self.socks.get(fd)
                if s is None:
                    continue
                try:
                    d = s.recv(65536)
                except OSError:
                    d = b""
                if not d:
                    self.error("closed while idle")
                    self.drop(fd)
                    continue
                p, rest = packets(self.buf.pop(fd, b"") + d)
                if rest:
                    self.buf[fd] = rest
                for t, fl, body in p:
                    if t != 3:
                        self.error("packet type %d" % t)
                        continue
                    q = (fl >> 1) & 3
                    self.got[fd][min(q, 1)] += 1
                    if q == 1:
                        tl = struct.unpack("!H",
                            body[:2])[0]
                        s.send(b"\x40\x02" +
                            body[2 + tl:4 + tl])
                if self.got[fd][qos] >= expect:
                    short.discard(fd)
        return short

    def close_all(self):
        for fd in list(self.socks):
            self.drop(fd)
        self.ep.close()


def firehosed_conf(port):
    # max_output_buffer generous: one small message per client, none of
    # them may be dropped as a slow consumer while the bench reads 100k.
    return ("[broker]\nallow_anonymous = true\nanonymous_publish = true\n"
        "max_connections = 0\nmax_output_buffer = 16M\n"
        "[listener mqtt]\nprotocol = mqtt\nbind = 127.0.0.1:%d\n"
        % port)


def mosquitto_conf(port):
    conf = ("per_listener_settings false\nallow_anonymous true\n"
        "persistence false\nlog_dest none\nmax_connections -1\n"
        "max_queued_messages 0\nlistener %d 127.0.0.1\n" % port)
    if os.geteuid() == 0:
        conf += "user root\n"
    return conf


def wait_port(port, proc, seconds=20):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("broker exited with %d" %
                proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not open" % port)


def measure(name, cmd, conf, a, tmp, addrs):
    port = free_port()
    path = os.path.join(tmp, name + ".conf")
    with open(path, "w") as f:
        f.write(conf(port))
    log = open(os.path.join(tmp, name + ".log"), "w")
    lim = a.daemon_nofile

    def limit():
        if lim:
            resource.setrlimit(resource.RLIMIT_NOFILE, (lim, lim))
    proc = subprocess.Popen(cmd + [path], stdout=log, stderr=log,
                            preexec_fn=limit)
    swarm, pub = None, None
    res = {"broker": name, "n": a.n, "addresses": len(addrs),
           "topics": a.t}
    try:
        wait_port(port, proc)
        time.sleep(0.5)
        pub = Client(port, "bench-pub")
        time.sleep(0.5)
        start = rss_kb(proc.pid)
        deadline = time.monotonic() + a.w
        swarm = Swarm(port, a.n, addrs, a.t, a.k, deadline)
        res["connect_s"] = "%.1f" % swarm.connect_all()
        res["subscribed"] = swarm.acked
        res["refused"] = swarm.refused
        time.sleep(1.0)
        full = rss_kb(proc.pid)
        res["rss_start_kb"] = start
        res["rss_full_kb"] = full
        res["kb_per_conn"] = "%.3f" % ((full - start) /
                                       max(1, swarm.acked))
        if a.idle > 0:
            # what the broker spends per second on idle connections
            # (timers that walk every session or connection)
            c0 = cpu_ms(proc.pid)
            time.sleep(a.idle)
            res["idle_cpu_ms_per_s"] = "%.1f" % ((cpu_ms(proc.pid) - c0) /
                                                 a.idle)
        for qos in (0, 1):
            t0 = time.monotonic()
            for t in range(a.t):
                pub.s.sendall(publish_pkt("idle/%d" % t,
                    b"hello %d" % t, qos, t + 1))
            if qos:
                for _ in range(a.t):
                    t, _, _ = pub.read()
                    if t != 4:
                        raise RuntimeError(
                            "publisher: type %d" % t)
            short = swarm.deliveries(qos, 1,
                time.monotonic() + a.w)
            res["qos%d_missing" % qos] = len(short)
            res["qos%d_s" % qos] = "%.1f" % (time.monotonic() - t0)
            if short:
                print("%s: QoS %d: %d connections without "
                    "their message, e.g. clients %s" % (name, qos,
                    len(short), sorted(swarm.index[fd]
                    for fd in short)[:10]), file=sys.stderr)
        res["served"] = sum(1 for fd in swarm.socks
            if swarm.got[fd][0] == 1 and swarm.got[fd][1] == 1)
        res["extra"] = sum(1 for fd in swarm.socks
            if swarm.got[fd][0] > 1 or swarm.got[fd][1] > 1)
        res["alive"] = int(proc.poll() is None)
        res["client_errors"] = sum(swarm.errors.values())
        if swarm.errors:
            print("%s: client errors: %r" % (name, swarm.errors),
                  file=sys.stderr)
        swarm.close_all()
        swarm = None
        pub.close()
        pub = None
        time.sleep(a.settle)    # firehosed trims its heap after 1 s
        after = rss_kb(proc.pid)
        res["rss_after_kb"] = after
        res["after_pct"] = "%.0f" % (100.0 * after / max(1, start))
        if proc.poll() is not None:
            res["alive"] = 0
    finally:
        if swarm is not None:
            errs = swarm.errors
            swarm.close_all()
        else:
            errs = {}
        if pub is not None:
            pub.close()
        if proc.poll() is None:
            proc.terminate()
        try:
            res["exit"] = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            res["exit"] = proc.wait()
        log.close()
        with open(log.name, errors="replace") as f:
            text = f.read()
        # firehosed: "listener x: accept: ...; pausing for 1s"
        res["accept_pauses"] = text.count("; pausing for")
        # firehosed -v: "heap trimmed (0 connections): N bytes in use, M free"
        for line in text.splitlines():
            if "heap trimmed (0 connections)" in line:
                w = line.split("):", 1)[1].split()
                res["heap_in_use_kb"] = int(w[0]) // 1024
                res["heap_free_kb"] = int(w[4]) // 1024
        if errs:
            print("%s: client errors: %r" % (name, errs),
                file=sys.stderr)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=100000,
        help="idle connections (default 100000)")
    ap.add_argument("-a", type=int, default=0,
        help="source addresses 127.0.0.2.. (default one per 20000)")
    ap.add_argument("-t", type=int, default=1000,
        help="topics: client i subscribes to idle/<i %% t> (default 1000)")
    ap.add_argument("-k", type=int, default=0,
        help="keep alive of the idle clients (default 0: none)")
    ap.add_argument("-w", type=float, default=900,
        help="seconds each phase may take (default 900)")
    ap.add_argument("--settle", type=float, default=3.0,
        help="seconds after the clients left before RSS (default 3)")
    ap.add_argument("--daemon-nofile", type=int, default=0,
                    help="the broker's RLIMIT_NOFILE (default: as ours), "
                    "to see it run out of descriptors")
    ap.add_argument("--idle", type=float, default=10.0,
                    help="seconds all connected and idle, for the broker's"
                    " CPU (default 10)")
    ap.add_argument("-v", action="store_true",
                    help="firehosed -v: its heap in use after the clients "
                    "left (debug log; slower)")
    ap.add_argument("-m", action="store_true",
        help="also Mosquitto, in the same run")
    ap.add_argument("-B", default=os.path.join(HERE, "..", "build"))
    a = ap.parse_args()
    if a.n < 1 or a.n > 500000:
        sys.exit("-n: 1 .. 500000")
    a.t = max(1, min(a.t, a.n, 65535))  # one QoS 1 packet id each
    na = a.a or (a.n + 19999) // 20000
    if na < 1 or na > 250:
        sys.exit("-a: 1 .. 250")
    addrs = ["127.0.0.%d" % (2 + j) for j in range(na)]
    per = (a.n + na - 1) // na
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = (int(x) for x in f.read().split())
    if per > hi - lo:
        sys.exit("%d connections per address, only %d ephemeral ports:"
             " use more with -a" % (per, hi - lo))
    # ourselves: n clients; the daemon: n connections; children inherit
    lim = raise_nofile(a.n + 64)
    if lim < a.n + 32:
        sys.exit("RLIMIT_NOFILE is %d (hard %d), %d connections need %d "
                 "here and in the daemon: raising the hard limit needs "
                 "CAP_SYS_RESOURCE" % (lim, resource.getrlimit(
                     resource.RLIMIT_NOFILE)[1], a.n, a.n + 32))
    if a.daemon_nofile:
        print("daemon RLIMIT_NOFILE: %d" % a.daemon_nofile)
    brokers = [("firehosed", [os.environ.get("FIREHOSED") or
                              os.path.join(a.B, "firehosed")] +
                (["-v"] if a.v else []) + ["-c"], firehosed_conf)]
    if a.m:
        brokers.append(("mosquitto", [shutil.which("mosquitto") or
            "/usr/sbin/mosquitto", "-c"], mosquitto_conf))
    tmp = tempfile.mkdtemp(prefix="fh-bench-100k-")
    rows = []
    try:
        for name, cmd, conf in brokers:
            try:
                r = measure(name, cmd, conf, a, tmp, addrs)
            except (RuntimeError, OSError) as e:
                print("%s: %s" % (name, e), file=sys.stderr)
                r = {"broker": name, "n": a.n, "error": 1}
            rows.append(r)
            print("RESULT " + " ".join("%s=%s" % kv
                for kv in r.items()))
            sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d idle connections from %d source addresses, one "
          "subscription each over %d topics" % (a.n, na, a.t))
    print("%-10s %9s %10s %10s %8s %8s %8s" % ("broker", "connect s",
          "kB/conn", "after %", "served", "q0 miss", "q1 miss"))
    for r in rows:
        print("%-10s %9s %10s %10s %8s %8s %8s" % (r["broker"],
              r.get("connect_s", "-"), r.get("kb_per_conn", "-"),
              r.get("after_pct", "-"), r.get("served", "-"),
              r.get("qos0_missing", "-"), r.get("qos1_missing", "-")))
    bad = [r for r in rows if r.get("served") != a.n or r.get("exit") or
           r.get("alive") != 1]
    return 1 if bad else 0


sys.exit(main())
