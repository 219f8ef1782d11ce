#!/usr/bin/python3
"""tools/bench-100k.py, small: 2,000 idle connections from two source
addresses, every one subscribed and served its QoS 0 and QoS 1 message.

Counts only (subscribed, served, missing, exit status), never timing or
RSS: the figures are the benchmark's, in docs/performance.md.
"""
import os
import sys

import fhtest
from fhtest import FIREHOSED, check, run

TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                    "tools", "bench-100k.py")
N = 2000


@fhtest.once
def bench():
    env = dict(os.environ, FIREHOSED=FIREHOSED)
    r = run([sys.executable, TOOL, "-n", str(N), "-a", "2", "-t", "100",
             "-w", "120", "--settle", "1", "--idle", "0"],
            timeout=400, env=env)
    res = None
    for line in r.stdout.splitlines():
        if line.startswith("RESULT broker=firehosed "):
            res = dict(kv.split("=", 1) for kv in line.split()[1:])
    check(res is not None, "no RESULT line: %s %s" % (r.stdout, r.stderr))
    return r, res


def test_every_connection_subscribed():
    r, res = bench()
    check(res.get("subscribed") == str(N) and res.get("refused") == "0",
          "subscribed %r: %s" % (res, r.stderr))
    check(res.get("addresses") == "2", "addresses: %r" % res)


def test_every_connection_gets_qos0_and_qos1_message():
    r, res = bench()
    check(res.get("qos0_missing") == "0" and res.get("qos1_missing") == "0",
          "missing: %r: %s" % (res, r.stderr))
    check(res.get("served") == str(N) and res.get("extra") == "0",
          "served: %r" % res)
    check(res.get("client_errors") == "0", "errors: %r: %s" % (res, r.stderr))


def test_daemon_alive_then_exits_0():
    r, res = bench()
    check(res.get("alive") == "1", "daemon died: %r" % res)
    check(res.get("exit") == "0", "daemon exit: %r" % res)
    check(int(res.get("rss_full_kb", "0")) > 0, "no RSS: %r" % res)
    check(r.returncode == 0, "tool exit %d: %s" % (r.returncode, r.stderr))


fhtest.run_cases(globals())
