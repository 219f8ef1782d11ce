#!/usr/bin/python3
"""Keepalive: a silent client is dropped after 1.5 x keepalive (and its
will goes out); PINGREQs keep it alive; a connection that never sends
CONNECT is dropped after connect_timeout."""
import time

import fhtest
from fhtest import Daemon, check
from mqtttest import Client, Raw, connect_pkt, packet

CONF = """[broker]
sys_interval = 0
connect_timeout = 2s
anonymous_publish = true
[listener mqtt]
bind = 127.0.0.1:{port}
"""


def test_pings_keep_alive_silence_drops_and_sends_will():
    with Daemon(CONF) as d:
        watcher = Client(d.port, "watcher")
        watcher.sub("will/#", 1)
        # keepalive 1 s, pings every 0.4 s for 3 s: still there
        r = Raw(d.port, connect_pkt("pinger", keepalive=1,
                                    will=("will/pinger", "gone", 1, False)))
        for _ in range(8):
            time.sleep(0.4)
            r.send(packet(0xc0))
            check(r.read() == (13, 0, b""), "no PINGRESP")
        # then silence: closed, and the will is published
        start = time.time()
        check(r.closed(15), "silent client not dropped")
        check(time.time() - start >= 1.0, "dropped before the keepalive")
        watcher.expect("will/pinger", "gone", timeout=5)
        watcher.close()


def test_connection_without_connect_dropped():
    with Daemon(CONF) as d:
        n = Raw(d.port)
        check(n.closed(15), "connection without CONNECT not dropped")


def test_keepalive_zero_never_dropped_for_silence():
    with Daemon(CONF) as d:
        z = Raw(d.port, connect_pkt("zero", keepalive=0))
        # the clock: a connection without CONNECT goes after 2 s, past
        # 1.5 x any keepalive a broker might assume
        n = Raw(d.port)
        check(n.closed(15), "connection without CONNECT not dropped")
        z.send(packet(0xc0))
        check(z.read() == (13, 0, b""), "keepalive 0 client was dropped")


fhtest.run_cases(globals())
