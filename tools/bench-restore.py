#!/usr/bin/python3
"""Restore time: how long firehosed takes to start on a state file holding
N persistent sessions (one subscription and M queued QoS 1 messages each,
plus R retained messages), against an empty one. The rows are written
straight into a file the daemon made (same schema), then the daemon is
started and the time to its "started" line measured.

    /usr/bin/python3 tools/bench-restore.py [N [M [R]]]
    (FIREHOSED=build/firehosed; defaults 10000 sessions, 10 messages, 1000)
"""
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
from fhtest import Daemon, check  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
M = int(sys.argv[2]) if len(sys.argv) > 2 else 10
R = int(sys.argv[3]) if len(sys.argv) > 3 else 1000

CONF = """[gateway]
state_dir = {tmp}/state
[broker]
sys_interval = 0
session_expiry = 0
max_queued_messages = 1000
[listener mqtt]
bind = 127.0.0.1:{port}
"""


def timed_start(d):
    t0 = time.time()
    d.start()
    return time.time() - t0


def fill(path):
    db = sqlite3.connect(path)
    payload = b"x" * 200
    with db:
        db.executemany("INSERT INTO retain (topic, payload, props, qos) "
                       "VALUES (?, ?, x'', 1)",
                       (("r/%d" % i, payload) for i in range(R)))
        db.executemany("INSERT INTO session (client_id, next_mid, expiry, "
                       "disconnected) VALUES (?, 1, 4294967295, ?)",
                       (("c%d" % i, int(time.time())) for i in range(N)))
        db.executemany("INSERT INTO sub (client_id, filter, options) "
                       "VALUES (?, ?, 1)",
                       (("c%d" % i, "t/%d/#" % i) for i in range(N)))
        for j in range(M):
            cur = db.execute("INSERT INTO body (topic, payload, props) "
                             "VALUES (?, ?, x'')", ("t/x/%d" % j, payload))
            body = cur.lastrowid
            db.executemany("INSERT INTO msg (client_id, body, qos, retain, "
                           "dup, mid, state) VALUES (?, ?, 1, 0, 0, 0, 0)",
                           (("c%d" % i, body) for i in range(N)))
    db.close()


with Daemon(CONF) as d:
    check(d.stop() == 0, "stop")
    empty = timed_start(d)
    check(d.stop() == 0, "stop")
    path = os.path.join(d.tmp, "state", "firehose.db")
    fill(path)
    size = os.path.getsize(path)
    full = timed_start(d)
    log = d.logtext()
    line = [x for x in log.splitlines() if "restored" in x][-1]
    check("restored %d sessions, %d messages, %d retained" % (N, N * M, R)
          in line, line)
    rss = 0
    with open("/proc/%d/status" % d.proc.pid) as f:
        for x in f:
            if x.startswith("VmRSS:"):
                rss = int(x.split()[1])
    check(d.stop() == 0, "stop")
print("restore: %d sessions, %d queued messages, %d retained; file %.1f MB"
      % (N, N * M, R, size / 1e6))
print("  start on an empty file: %.2f s; on this one: %.2f s; RSS %d MB"
      % (empty, full, rss // 1024))
