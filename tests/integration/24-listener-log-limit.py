#!/usr/bin/python3
"""A scanner cannot fill the log: bad connections are logged once per
source address per minute, then counted ("N more ... from ADDR
suppressed"), with a bounded table of addresses.

Every case checks the exact sum: lines logged plus lines counted equals
the connections made, so it holds however slow the machine is.
"""
import re
import socket
import time

import fhtest
from fhtest import Daemon, check
from mqtttest import Client, connect_pkt, publish_pkt
from transport import make_pki

CONF = """[broker]
sys_interval = 0
[listener tcp]
bind = 127.0.0.1:{port}
[listener tls]
protocol = mqtts
bind = 127.0.0.1:{tls}
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
[listener ws]
protocol = ws
bind = 127.0.0.1:{ws}
path = /mqtt
"""


def daemon():
    ports = {"tls": fhtest.free_port(), "ws": fhtest.free_port()}
    d = Daemon(CONF, ports=ports, wait=None)
    make_pki(d.tmp)
    d.start()
    return d, ports


def bad(port, data, src="127.0.0.1"):
    """Connect from src, send data, wait for the daemon to close."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(data)
    try:
        while s.recv(4096):
            pass
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()


def counted(log, what, addr):
    """Sum of the "N more WHAT from ADDR suppressed" lines."""
    pat = r"(\d+) more %s from %s suppressed" % (re.escape(what),
                                                re.escape(addr))
    return sum(int(n) for n in re.findall(pat, log))


def test_tls_garbage_from_one_address():
    d, ports = daemon()
    with d:
        start = time.monotonic()
        for _ in range(200):
            bad(ports["tls"], b"GET / HTTP/1.0\r\n\r\n")
        minutes = int((time.monotonic() - start) // 60)
        check(d.stop() == 0, "exit status")
        log = d.logtext()
        lines = log.count("TLS handshake with 127.0.0.1:")
        held = counted(log, "failed TLS handshakes", "127.0.0.1")
        check(1 <= lines <= 2 + minutes, "%d lines logged" % lines)
        check(lines + held == 200, "%d logged + %d counted != 200:\n%s"
              % (lines, held, log[-2000:]))


def test_http_garbage_from_one_address():
    d, ports = daemon()
    with d:
        start = time.monotonic()
        for _ in range(200):
            bad(ports["ws"], b"\x16\x03\x01 not http\r\n\r\n")
        minutes = int((time.monotonic() - start) // 60)
        check(d.stop() == 0, "exit status")
        log = d.logtext()
        lines = len(re.findall(r"listener ws: 127\.0\.0\.1:\d+: HTTP 400",
                               log))
        held = counted(log, "rejected HTTP requests", "127.0.0.1")
        check(1 <= lines <= 2 + minutes, "%d lines logged" % lines)
        check(lines + held == 200, "%d logged + %d counted != 200"
              % (lines, held))


def test_mqtt_malformed_from_one_address():
    d, ports = daemon()
    with d:
        start = time.monotonic()
        for i in range(200):
            # CONNECT, then a PUBLISH with a '#' topic: malformed
            bad(d.port, connect_pkt("bad%d" % i) + publish_pkt("a/#", "x"))
        minutes = int((time.monotonic() - start) // 60)
        ok = Client(d.port)	# still served
        ok.sub("x")
        ok.close()
        check(d.stop() == 0, "exit status")
        log = d.logtext()
        lines = len(re.findall(r"mqtt bad\d+ \(127\.0\.0\.1:\d+\): ", log))
        held = counted(log, "malformed-connection warnings", "127.0.0.1")
        check(1 <= lines <= 2 + minutes, "%d lines logged" % lines)
        check(lines + held == 200, "%d logged + %d counted != 200:\n%s"
              % (lines, held, log[-2000:]))


def test_many_addresses_share_a_bounded_table():
    # 300 source addresses: the table holds 256, the last slot is shared
    # by every address that finds it full.
    d, ports = daemon()
    with d:
        srcs = ["127.0.%d.%d" % (1 + i // 200, 1 + i % 200)
                for i in range(300)]
        start = time.monotonic()
        for src in srcs:
            bad(ports["tls"], b"\x00" * 16, src=src)
        minutes = int((time.monotonic() - start) // 60)
        check(d.stop() == 0, "exit status")
        log = d.logtext()
        lines = len(re.findall(r"TLS handshake with 127\.0\.\d+\.\d+:", log))
        held = counted(log, "failed TLS handshakes", "other addresses")
        check(lines <= 256 * (1 + minutes), "%d lines for 300 addresses"
              % lines)
        check(held > 0, "nothing counted under 'other addresses'")
        check(lines + held == 300, "%d logged + %d counted != 300"
              % (lines, held))


fhtest.run_cases(globals())
