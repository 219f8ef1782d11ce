#!/usr/bin/python3
"""Nothing acknowledged is ever lost: kill -9 under QoS 1/2 load.

Rounds: start firehosed on one state_dir; publishers send sequence numbers
at QoS 1 and QoS 2 while one persistent subscriber stays offline (for all
rounds) and another is online; kill -9 at a random moment; restart. Every
message acknowledged to its publisher (PUBACK / PUBCOMP) must reach both
subscribers, in order; QoS 1 may repeat, QoS 2 never does for the
subscriber that was offline throughout (QoS 2 subscription; the online
one subscribes at QoS 1, see below).

The broker keeps its sessions in the state store (docs/durability.md).
With FH_CRASH_NO_STATE=1 (state_dir empty) the same test fails, which
shows that it can.
"""
import faulthandler
import os
import random
import threading
import time

import paho.mqtt.client as mqtt

import fhtest
from fhtest import Daemon, check
from mqtttest import Client

STATE_DIR = "" if os.environ.get("FH_CRASH_NO_STATE") == "1" else \
    "{tmp}/state"
CONF = """[gateway]
state_dir = """ + STATE_DIR + """
[broker]
anonymous_publish = true
sys_interval = 0
max_queued_messages = 100000
[listener mqtt]
bind = 127.0.0.1:{port}
"""
ROUNDS = int(os.environ.get("FH_CRASH_ROUNDS", "4"))
# A control run of the checks: the same load with no kill at all.
NO_KILL = os.environ.get("FH_CRASH_NO_KILL") == "1"


class Publisher:
    """Publishes "<qos>:<n>" on crash/q<qos> until stopped; records the
    numbers its broker acknowledged."""

    def __init__(self, port, qos, start):
        self.qos, self.n, self.acked = qos, start, set()
        self.mids, self.early, self.lock = {}, set(), threading.Lock()
        self.stop = threading.Event()
        self.c = mqtt.Client(client_id="pub%d-%d" % (qos, start),
                             clean_session=True)
        self.c.max_inflight_messages_set(20)
        self.c.on_publish = self._on_publish
        self.c.connect("127.0.0.1", port, 60)
        self.c.loop_start()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    # paho calls on_publish holding its own lock, which publish() takes
    # too: never call paho with self.lock held. An ack may beat the
    # mapping of its mid, hence "early".
    def _on_publish(self, c, u, mid):
        with self.lock:
            n = self.mids.pop(mid, None)
            if n is not None:
                self.acked.add(n)
            else:
                self.early.add(mid)

    def _run(self):
        while not self.stop.is_set():
            info = self.c.publish("crash/q%d" % self.qos,
                                  "%d:%d" % (self.qos, self.n), self.qos)
            if info.rc != 0:
                break
            with self.lock:
                if info.mid in self.early:
                    self.early.discard(info.mid)
                    self.acked.add(self.n)
                else:
                    self.mids[info.mid] = self.n
                self.n += 1
            time.sleep(0.002)

    def close(self):
        self.stop.set()
        self.t.join()
        self.c.loop_stop()
        with self.lock:
            return set(self.acked)


DRAINS = [0]


def drain(port, cid, timeout=30):
    """Reconnect a persistent subscriber; collect what its session kept,
    up to a sentinel published after the reconnect: the session's queue
    is delivered in order, so the sentinel comes last."""
    c = Client(port, cid, clean=False)
    DRAINS[0] += 1
    mark = "crash/sentinel/%s" % cid
    payload = "end %d" % DRAINS[0]
    p = Client(port, "sentinel-" + cid)
    p.pub(mark, payload, qos=2)
    p.close()
    got = []
    deadline = time.time() + timeout
    while True:
        m = c.get(timeout=max(0.1, deadline - time.time()))
        check(m is not None, "%s: no sentinel after %d messages" % (
            cid, len(got)))
        if m.topic == mark and m.payload.decode() == payload:
            break
        got.append((m.topic, m.payload.decode(), m.qos, m.dup))
    return c, got


def check_stream(who, got, acked, qos, exactly_once):
    nums = [int(p.split(":")[1]) for t, p, q, d in got
            if t == "crash/q%d" % qos]
    missing = sorted(acked - set(nums))
    check(not missing, "%s: %d acknowledged QoS %d messages lost, e.g. %r"
          % (who, len(missing), qos, missing[:10]))
    # In order: the first delivery of each number comes in publish order.
    seen, firsts = set(), []
    for n in nums:
        if n not in seen:
            seen.add(n)
            firsts.append(n)
    check(firsts == sorted(firsts), "%s: QoS %d out of order: %r" % (
        who, qos, [p for p, q in zip(firsts, sorted(firsts)) if p != q][:10]))
    if exactly_once:
        check(len(nums) == len(seen), "%s: QoS 2 duplicates: %r" % (
            who, sorted(n for n in seen if nums.count(n) > 1)[:10]))


def test_kill9_under_qos1_and_qos2_load_loses_nothing_acknowledged():
    faulthandler.dump_traceback_later(240, exit=True)  # never hang CI
    rnd = random.Random(os.environ.get("FH_CRASH_SEED"))
    d = Daemon(CONF, wait=None)
    acked = {1: set(), 2: set()}
    online_got = []
    with d:
        d.start()
        # "on" is a new paho client after every kill: it cannot keep a
        # QoS 2 message it PUBREC'd but whose PUBREL the kill lost (paho
        # hands it over on PUBREL; after the restart the broker rightly
        # sends only PUBREL, MQTT 4.4). So it reads at QoS 1, "off" (one
        # client, connected once at the end) at QoS 2.
        for cid, q in (("off", 2), ("on", 1)):
            c = Client(d.port, cid, clean=False)
            c.sub("crash/#", q)
            c.close()
        start = 0
        for rnd_i in range(ROUNDS):
            on, got = drain(d.port, "on")
            online_got += got
            pubs = [Publisher(d.port, q, start) for q in (1, 2)]
            time.sleep(rnd.uniform(0.3, 1.2))
            if NO_KILL:
                for p in pubs:
                    acked[p.qos] |= p.close()
                time.sleep(0.5)
            else:
                d.kill9()
            for p in pubs:
                acked[p.qos] |= p.close()
            on.drop()
            while not on.msgs.empty():
                m = on.msgs.get()
                online_got.append((m.topic, m.payload.decode(), m.qos,
                                   m.dup))
            start = max(p.n for p in pubs) + 1
            check(acked[1] and acked[2], "round %d: nothing acknowledged"
                  % rnd_i)
            if not NO_KILL:
                d.start()
        on, got = drain(d.port, "on")
        online_got += got
        on.close()
        off, off_got = drain(d.port, "off")
        off.close()
        print("acked: QoS 1 %d, QoS 2 %d; offline got %d, online got %d" % (
            len(acked[1]), len(acked[2]), len(off_got), len(online_got)))
        check_stream("offline", off_got, acked[1], 1, False)
        check_stream("offline", off_got, acked[2], 2, True)
        check_stream("online", online_got, acked[1], 1, False)
        check_stream("online", online_got, acked[2], 2, False)


fhtest.run_cases(globals())
