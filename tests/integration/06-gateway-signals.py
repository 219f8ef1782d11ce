#!/usr/bin/env python3
"""Signals while stopping: a second SIGTERM or SIGINT, or a SIGHUP,
arriving while the daemon persists its state and closes its sessions does
not kill it; it still stops cleanly (exit 0) with its state kept."""
import os
import signal
import time

from durabletest import CONF
from fhtest import Daemon, check, run_cases
from mqtttest import Client


def stop_with_second(sig2):
    d = Daemon(CONF)
    try:
        # work to do at stop: persistent sessions with queued messages
        subs = [Client(d.port, "keep%d" % i, clean=False)
                for i in range(50)]
        for c in subs:
            c.sub("q/#", 1)
            c.close()
        pub = Client(d.port, "pub")
        for i in range(200):
            pub.pub("q/x", "m%d" % i, qos=1)
        pub.close()
        pid = d.proc.pid
        os.kill(pid, signal.SIGTERM)
        # the second one while it is still stopping (and again, later)
        for _ in range(20):
            try:
                os.kill(pid, sig2)
            except ProcessLookupError:
                break
            time.sleep(0.005)
        rc = d.proc.wait(30)
        check(rc == 0, "exit %r after SIGTERM + %s" % (rc, sig2.name))
        check("stopped" in d.logtext(), "no clean stop in the log")
        d.proc = None
        d.logf.close()
        # the state was kept: a session still has its queued messages
        d.start()
        c = Client(d.port, "keep7", clean=False)
        m = c.get(10)
        check(m is not None and m.payload == b"m0", "queue lost: %r" % (m,))
        c.close()
    finally:
        d.__exit__(None, None, None)


def test_second_sigterm_while_stopping():
    stop_with_second(signal.SIGTERM)


def test_sigint_while_stopping():
    stop_with_second(signal.SIGINT)


def test_sighup_while_stopping():
    stop_with_second(signal.SIGHUP)


if __name__ == "__main__":
    run_cases(globals())
