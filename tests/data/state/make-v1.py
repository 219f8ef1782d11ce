#!/usr/bin/python3
"""Make v1-release.db: a state file written by the first release (core
schema 1, the broker's tables still in gateway/state.c), for
tests/integration/85-state-v1-file.py. Kept so that the fixture can be
remade, and so that a reader sees exactly what state it holds.

Build the old code and point $FIREHOSED at it:

    git archive 589fb16 | tar -x -C /tmp/fh-old
    (cd /tmp/fh-old && ./autogen.sh && mkdir build && cd build &&
     ../configure -q && make firehosed)
    FIREHOSED=/tmp/fh-old/build/firehosed /usr/bin/python3 make-v1.py

It stops the daemon cleanly, so the WAL is checkpointed into the one file.
"""
import json
import os
import shutil
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration"))

from fhtest import Daemon, check  # noqa: E402
from mqtttest import (Raw, ack_pkt, connect_pkt, packet,  # noqa: E402
                      publish_pkt, subscribe_pkt)

CONF = """[gateway]
state_dir = {tmp}/state
[broker]
anonymous_publish = true
sys_interval = 0
[listener mqtt]
bind = 127.0.0.1:{port}
"""
PUBACK, PUBREC, PUBCOMP, SUBACK = 4, 5, 7, 9
DISCONNECT = packet(0xe0)


def expect(r, kind, mid):
    p = r.read()
    check(p is not None and p[0] == kind and
          int.from_bytes(p[2][:2], "big") == mid,
          "want type %d mid %d, got %r" % (kind, mid, p))


def pub1(r, topic, payload, mid, retain=False):
    r.send(publish_pkt(topic, payload, 1, mid, retain))
    expect(r, PUBACK, mid)


def make(d):
    p = Raw(d.port, connect_pkt("pub", clean=True))
    pub1(p, "r/a", "A", 1, retain=True)
    p.send(publish_pkt("r/b", "B", 0, retain=True))
    pub1(p, "r/c", "C", 2, retain=True)
    pub1(p, "r/c", "", 3, retain=True)     # cleared

    s = Raw(d.port, connect_pkt("sess", clean=False))
    s.send(subscribe_pkt(1, [("q/#", 1), ("q2/#", 2)]))
    expect(s, SUBACK, 1)
    s.send(DISCONNECT)
    s.close()

    infl = Raw(d.port, connect_pkt("infl", clean=False))
    infl.send(subscribe_pkt(1, [("q/#", 1)]))
    expect(infl, SUBACK, 1)

    for i in (1, 2, 3):
        pub1(p, "q/%d" % i, "m%d" % i, 10 + i)
    p.send(publish_pkt("q2/1", "two", 2, 20))
    expect(p, PUBREC, 20)
    p.send(ack_pkt("pubrel", 20))
    expect(p, PUBCOMP, 20)

    mids = []
    for i in (1, 2, 3):
        m = infl.read_publish()
        check(m is not None and m[0] == "q/%d" % i, "infl: got %r" % (m,))
        mids.append(m[3])
    infl.send(ack_pkt("puback", mids[0]))
    pub1(infl, "sync/infl", "x", 99, retain=True)

    p2 = Raw(d.port, connect_pkt("p2", clean=False))
    p2.send(publish_pkt("q2/2", "once", 2, 7))
    expect(p2, PUBREC, 7)       # no PUBREL: the receive state is kept
    p.close()
    return mids


with Daemon(CONF) as d:
    mids = make(d)
    check(d.stop(signal.SIGTERM) == 0, "SIGTERM: bad exit")
    db = os.path.join(d.tmp, "state", "firehose.db")
    check(not os.path.exists(db + "-wal") or
          os.path.getsize(db + "-wal") == 0, "WAL not checkpointed")
    shutil.copyfile(db, os.path.join(HERE, "v1-release.db"))
    with open(os.path.join(HERE, "v1-release.json"), "w") as f:
        json.dump({"inflight_mids": mids}, f)
        f.write("\n")
print("wrote v1-release.db, in flight:", mids)
