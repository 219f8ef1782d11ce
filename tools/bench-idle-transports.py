#!/usr/bin/python3
"""RSS per idle connection over mqtt, mqtts, ws and wss, for firehosed and
Mosquitto in the same run (issue 14's memory goal).

For each broker and transport: a private broker on a free loopback port
(a throw-away CA for TLS), 20 warm-up clients, then N clients that each
send CONNECT and one SUBSCRIBE and stay idle. Prints the broker's RSS
growth per connection, and its RSS once every client has left against
the start. Loopback only; bounded in count.

    tools/bench-idle-transports.py [-n N] [-B BUILDDIR]
"""
import argparse
import base64
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import mqtttest  # noqa: E402
from transport import make_pki  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc):
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError("broker exited with %d" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not open" % port)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def firehosed_conf(kind, port, pki):
    conf = ("[broker]\nsys_interval = 0\n[listener x]\nprotocol = %s\n"
            "bind = 127.0.0.1:%d\n" % (kind, port))
    if kind in ("mqtts", "wss"):
        conf += "cert_file = %s\nkey_file = %s\n" % (pki["cert"], pki["key"])
    if kind in ("ws", "wss"):
        conf += "path = /mqtt\n"
    return conf


def mosquitto_conf(kind, port, pki):
    conf = ("per_listener_settings false\nallow_anonymous true\n"
            "persistence false\nlog_dest none\nset_tcp_nodelay true\n"
            "listener %d 127.0.0.1\n" % port)
    if os.geteuid() == 0:
        conf += "user root\n"	# else it cannot read the temp dir's keys
    if kind in ("ws", "wss"):
        conf += "protocol websockets\n"
    if kind in ("mqtts", "wss"):
        conf += "certfile %s\nkeyfile %s\n" % (pki["cert"], pki["key"])
    return conf


def client(kind, port, ctx, i):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if kind in ("mqtts", "wss"):
        s = ctx.wrap_socket(s, server_hostname="localhost")
    pkt = (mqtttest.connect_pkt("idle%d" % i) +
           mqtttest.subscribe_pkt(1, [("idle/%d" % i, 0)]))
    if kind in ("ws", "wss"):
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET /mqtt HTTP/1.1\r\nHost: localhost\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: mqtt\r\n\r\n" % key).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            d = s.recv(4096)
            if not d:
                raise RuntimeError("upgrade refused")
            head += d
        mask = os.urandom(4)
        body = bytes(b ^ mask[j % 4] for j, b in enumerate(pkt))
        s.sendall(bytes([0x82, 0x80 | len(pkt)]) + mask + body)
    else:
        s.sendall(pkt)
    got = b""
    while len(got) < 9:	# CONNACK + SUBACK (+ ws headers)
        d = s.recv(4096)
        if not d:
            raise RuntimeError("closed before SUBACK")
        got += d
    return s


def measure(broker, cmd, conf, kind, n, tmp, pki):
    path = os.path.join(tmp, "%s-%s.conf" % (broker, kind))
    port = free_port()
    with open(path, "w") as f:
        f.write(conf(kind, port, pki))
    proc = subprocess.Popen(cmd + [path], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    socks = []
    try:
        wait_port(port, proc)
        ctx = ssl.create_default_context(cafile=pki["ca"])
        socks = [client(kind, port, ctx, i) for i in range(20)]
        # idle: firehosed parks plain TCP connections after 1 to 2 s
        # and trims its heap a second after such a sweep
        time.sleep(3.5)
        start = rss_kb(proc.pid)
        socks += [client(kind, port, ctx, i) for i in range(20, 20 + n)]
        time.sleep(3.5)
        full = rss_kb(proc.pid)
        for s in socks:
            s.close()
        socks = []
        time.sleep(2.5)	# firehosed trims its heap a second after
        after = rss_kb(proc.pid)
        return (full - start) / n, 100.0 * after / start
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        proc.wait(10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("-B", default=os.path.join(HERE, "..", "build"))
    a = ap.parse_args()
    if a.n > 20000:
        sys.exit("at most 20000 connections")
    brokers = [("firehosed", [os.environ.get("FIREHOSED") or
                              os.path.join(a.B, "firehosed"), "-c"],
                firehosed_conf)]
    if shutil.which("mosquitto"):
        brokers.append(("mosquitto", ["mosquitto", "-c"], mosquitto_conf))
    tmp = tempfile.mkdtemp(prefix="fh-bench-idle-")
    try:
        pki = make_pki(tmp)
        print("%d idle connections, each with one subscription" % a.n)
        print("%-10s %-6s %14s %18s" % ("broker", "kind", "kB/connection",
                                        "RSS after, % start"))
        for kind in ("mqtt", "mqtts", "ws", "wss"):
            for name, cmd, conf in brokers:
                try:
                    per, back = measure(name, cmd, conf, kind, a.n, tmp,
                                        pki)
                except RuntimeError as e:
                    # Debian's Mosquitto 2.0.11 cannot bind a websockets
                    # listener to a loopback address.
                    print("%-10s %-6s %14s   (%s)" % (name, kind, "-", e))
                    continue
                print("%-10s %-6s %14.2f %17.0f%%" % (name, kind, per, back))
                sys.stdout.flush()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
