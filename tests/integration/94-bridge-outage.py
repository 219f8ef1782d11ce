#!/usr/bin/python3
"""Bridge outages against a real Mosquitto (with persistence, so that its
subscriber's session outlives its restart): the remote stopped for 30 s
under load and restarted, every QoS 2 event arriving exactly once and in
order, every QoS 1 event at least once and in order; with state_dir,
firehosed also killed -9 during the outage and every event it had
acknowledged sent after its restart; an out-queue over max_queued drops
what does not fit, counts it and says so once."""
import os
import queue
import tempfile
import threading
import time

import paho.mqtt.client as mqtt

from bridgetest import Mosquitto, bridge_metric, conf, need_mosquitto, \
    wait_connected
from fhtest import Daemon, check, free_port, run_cases

need_mosquitto()

OUTAGE = 30.0		# seconds the remote is down
RATE = 100		# events/s per QoS while publishing


def persistent_mosquitto(tmp, port=None, start=True):
    # debug: the log says which messages it sent again to the collector
    return Mosquitto(tmp, "persistence true\npersistence_location %s/\n"
                     "max_queued_messages 0\nmax_inflight_messages 0\n"
                     "log_type debug\n" % tmp, port=port, start=start)


def mosquitto_resent_qos2(m):
    """QoS 2 PUBLISHes Mosquitto sent the collector again (DUP) after its
    restart. Mosquitto 2.0 restores an outgoing QoS 2 message that was
    waiting for PUBCOMP as one to publish again, so a message the
    collector had completed comes twice: that hop's duplicate, not the
    bridge's."""
    return m.logtext().count("Sending PUBLISH to collector (d1, q2")


class Collector:
    """A persistent session on the remote (QoS 2, clean_session false)
    that reconnects by itself and keeps every message in arrival order."""

    def __init__(self, port, topic):
        self.msgs = queue.Queue()
        self.got = []
        self.c = mqtt.Client(client_id="collector", clean_session=False)
        self.c.reconnect_delay_set(0.1, 0.5)
        ready = queue.Queue()
        self.c.on_connect = lambda c, u, f, rc: (
            c.subscribe(topic, 2) if rc == 0 else None)
        self.c.on_subscribe = lambda c, u, mid, g: ready.put(g)
        self.c.on_message = lambda c, u, m: self.msgs.put(
            (m.topic, m.payload.decode()))
        self.c.connect("127.0.0.1", port, 5)
        self.c.loop_start()
        ready.get(timeout=10)

    def drain(self):
        while True:
            try:
                self.got.append(self.msgs.get_nowait())
            except queue.Empty:
                return self.got

    def wait_all(self, want, timeout):
        """Until every (topic, payload) in want has arrived."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if want <= set(self.drain()):
                return self.got
            time.sleep(0.1)
        missing = want - set(self.drain())
        raise AssertionError("%d events never arrived, e.g. %r" % (
            len(missing), sorted(missing)[:5]))

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


class Publisher(threading.Thread):
    """Publishes q1/N and q2/N to firehosed at RATE per second each, QoS
    1, each acknowledged by firehosed before the next."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.c = mqtt.Client(client_id="loadgen")
        self.c.connect("127.0.0.1", port, 60)
        self.c.loop_start()
        self.n = 0
        self.halt = threading.Event()

    def run(self):
        t0 = time.time()
        while not self.halt.is_set() and self.n < 20000:
            for q in (1, 2):
                self.c.publish("q%d/load" % q, str(self.n),
                               qos=1).wait_for_publish()
            self.n += 1
            delay = t0 + self.n / RATE - time.time()
            if delay > 0:
                time.sleep(delay)

    def stop(self):
        self.halt.set()
        self.join(10)
        self.c.disconnect()
        self.c.loop_stop()


def check_order(got, topic, n, exactly_once, allowed=0):
    seq = [int(p) for t, p in got if t == topic]
    first = []
    seen = set()
    for s in seq:
        if s not in seen:
            seen.add(s)
            first.append(s)
    check(first == list(range(n)), "%s out of order: %r..." % (
        topic, [s for i, s in enumerate(first) if s != i][:5]))
    dups = len(seq) - len(first)
    if exactly_once:
        where = [(i, s) for i, s in enumerate(seq) if seq.index(s) != i]
        check(dups <= allowed, "%s: %d duplicates (index, value) %r, "
              "%d explained by the remote" % (topic, dups, where[:5],
                                              allowed))
    else:
        # QoS 1 is at least once: only what was in flight at the cut
        # may come twice
        check(dups <= 100, "%s: %d duplicates" % (topic, dups))
    return dups


BRIDGE = ("[bridge up]\naddress = 127.0.0.1:%d\nclient_id = fh-outage\n"
          "restart_timeout = 200ms 1s\nkeepalive = 5s\n"
          "connect_timeout = 2s\nmax_queued = 64M\n"
          "topic = q1/# out 1\ntopic = q2/# out 2\n")


def test_remote_down_30s_under_load():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    port = free_port()
    m = persistent_mosquitto(tmp, port)
    with m:  # stopped whatever happens
        col = Collector(port, "#")
        d = Daemon(conf(BRIDGE % port), ports={"web": free_port()})
        with d:
            wait_connected(d)
            load = Publisher(d.port)
            load.start()
            time.sleep(2)
            check(m.stop() == 0, "mosquitto stop")
            time.sleep(OUTAGE)
            queued = bridge_metric(d, "queued", "up")
            check(queued > RATE, "only %s queued during the outage" % queued)
            m.start()
            time.sleep(2)
            load.stop()
            n = load.n
            want = set(("q%d/load" % q, str(i)) for q in (1, 2)
                       for i in range(n))
            got = col.wait_all(want, 60)
            check_order(got, "q2/load", n, True, mosquitto_resent_qos2(m))
            check_order(got, "q1/load", n, False)
            check(d.logtext().count("bridge up: lost mqtt://") == 1,
                  "the outage logged once:\n" + d.logtext())
            check(bridge_metric(d, "queued", "up") == 0, "queue drained")
        col.close()
        check(m.stop() == 0, "mosquitto stop")


def test_kill9_during_outage_with_state_dir():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    port = free_port()
    m = persistent_mosquitto(tmp, port)
    with m:  # stopped whatever happens
        col = Collector(port, "#")
        state = os.path.join(tmp, "state")
        ports = {"web": free_port()}
        d = Daemon(conf(BRIDGE % port, extra_broker="") +
                   "[gateway]\nstate_dir = %s\n" % state, ports=ports)
        with d:
            wait_connected(d)
            check(m.stop() == 0, "mosquitto stop")
            load = Publisher(d.port)
            load.start()
            time.sleep(3)
            # events acknowledged by firehosed (PUBACK) while the remote is
            # down: after kill -9 they must still go out
            load.halt.set()
            load.join(10)
            n = load.n
            check(n > 50, "only %d published" % n)
            check(d.kill9() == -9, "kill -9")
            load.c.loop_stop()
            d.start()
            check(bridge_metric(d, "restored", "up") == 2 * n,
                  "restored %s, want %d" % (bridge_metric(d, "restored", "up"),
                                            2 * n))
            m.start()
            want = set(("q%d/load" % q, str(i)) for q in (1, 2)
                       for i in range(n))
            got = col.wait_all(want, 60)
            check_order(got, "q2/load", n, True)
            check_order(got, "q1/load", n, True)
            wait_connected(d)
        col.close()
        check(m.stop() == 0, "mosquitto stop")


def test_in_with_state_dir_kill9():
    """In, with state_dir: a local persistent session offline gets every
    QoS 1 message the remote sent, even when firehosed is killed -9 right
    after taking them (what it acknowledged to the remote is on disk; what
    it did not, the remote sends again)."""
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    port = free_port()
    state = os.path.join(tmp, "state")
    m = persistent_mosquitto(tmp, port)
    with m:  # stopped whatever happens
        d = Daemon(conf("[bridge up]\naddress = 127.0.0.1:%d\n"
                        "client_id = fh-in\nrestart_timeout = 100ms 300ms\n"
                        "topic = in/# in 1\n" % port) +
                   "[gateway]\nstate_dir = %s\n" % state,
                   ports={"web": free_port()})
        with d:
            wait_connected(d)
            keeper = Collector(d.port, "in/#")	# persistent, QoS 2
            keeper.close()
            c = mqtt.Client()
            c.connect("127.0.0.1", port, 60)
            c.loop_start()
            for i in range(200):
                c.publish("in/x", str(i), qos=1).wait_for_publish()
            c.disconnect()
            c.loop_stop()
            deadline = time.time() + 20
            while (bridge_metric(d, "messages_received", "up") or 0) < 200:
                check(time.time() < deadline, "not all taken in")
                time.sleep(0.02)
            check(d.kill9() == -9, "kill -9")
            d.start()
            keeper = Collector(d.port, "in/#")
            got = keeper.wait_all(set(("in/x", str(i)) for i in range(200)),
                                  30)
            check_order(got, "in/x", 200, False)
            keeper.close()
        check(m.stop() == 0, "mosquitto stop")


def test_overflow_counted_and_logged_once():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    port = free_port()
    m = persistent_mosquitto(tmp, port)
    with m:  # stopped whatever happens
        col = Collector(port, "of/#")
        check(m.stop() == 0, "mosquitto stop")	# it keeps col's session
        d = Daemon(conf("[bridge up]\naddress = 127.0.0.1:%d\n"
                        "restart_timeout = 100ms 300ms\nmax_queued = 8k\n"
                        "topic = of/# out 1\n" % port),
                   ports={"web": free_port()})
        with d:
            c = mqtt.Client()
            c.connect("127.0.0.1", d.port, 60)
            c.loop_start()
            for i in range(100):
                c.publish("of/x", "%04d" % i + "x" * 100,
                          qos=1).wait_for_publish()
            dropped = bridge_metric(d, "dropped_queue_full", "up")
            queued = bridge_metric(d, "queued", "up")
            check(dropped > 0 and queued > 0 and dropped + queued == 100,
                  "dropped %s queued %s" % (dropped, queued))
            check(d.logtext().count("out-queue full") == 1,
                  "overflow logged once:\n" + d.logtext())
            m.start()
            # the oldest were kept: 0 .. queued-1 arrive, in order
            got = col.wait_all(set(("of/x", "%04d" % i + "x" * 100)
                                   for i in range(int(queued))), 30)
            check([int(p[:4]) for t, p in got] == list(range(int(queued))),
                  "kept the oldest, in order")
            deadline = time.time() + 10
            while "has room again" not in d.logtext() and \
                    time.time() < deadline:
                time.sleep(0.1)
            check(d.logtext().count("has room again; %d events were dropped"
                                    % dropped) == 1, "the end logged once")
            c.disconnect()
            c.loop_stop()
            col.close()
        check(m.stop() == 0, "mosquitto stop")


run_cases(globals())
