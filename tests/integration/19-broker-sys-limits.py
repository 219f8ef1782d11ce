#!/usr/bin/python3
"""$SYS/broker/... with Mosquitto's names every sys_interval (and not
matched by '#'); max_connections; the slow-consumer policy: QoS 0 dropped
and counted above max_output_buffer, the client disconnected above
max_output_buffer_hard, fast subscribers unaffected."""
import os
import subprocess
import time

import fhtest
from fhtest import Daemon, check
from mqtttest import Client, Raw, connect_pkt, packet, publish_pkt, \
    subscribe_pkt

CONF = """[broker]
sys_interval = 1s
anonymous_publish = true
max_connections = {maxc}
max_output_buffer = 256k
max_output_buffer_hard = {hard}
[listener mqtt]
bind = 127.0.0.1:{port}
"""

NAMES = ["version", "uptime", "clients/connected", "clients/total",
         "clients/maximum", "messages/received", "messages/sent",
         "bytes/received", "bytes/sent", "subscriptions/count",
         "retained messages/count", "publish/messages/dropped",
         "load/messages/received/1min", "load/messages/sent/5min",
         "load/bytes/received/15min", "load/bytes/sent/1min",
         "load/connections/1min", "publish/messages/received",
         "publish/messages/sent", "load/publish/received/1min",
         "load/publish/sent/15min"]


def sys_values(port, wait_for=None, timeout=10):
    c = Client(port, "sys%f" % time.time())
    c.sub("$SYS/broker/#", 0)
    vals = {}
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = c.get(0.2)
        if m is not None:
            vals[m.topic[len("$SYS/broker/"):]] = m.payload.decode()
        if wait_for is None and all(n in vals for n in NAMES):
            break
        if wait_for is not None and wait_for(vals):
            break
    c.close()
    return vals


def flood(port, slow_sub_id, tmp):
    """A subscriber that never reads, a fast one (mosquitto_sub into a
    file, never more than 100 kB behind) and 24 MB of QoS 0."""
    slow = Raw(port, connect_pkt(slow_sub_id))
    slow.send(subscribe_pkt(1, [("flood", 0)]))
    check(slow.read()[0] == 9, "SUBACK")
    out = os.path.join(tmp, "fast.out")
    with open(out, "w") as f:
        fast = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-d",
                                 "-h", "127.0.0.1", "-p", str(port), "-t",
                                 "flood", "-C", "2641", "-W", "120"], stdout=f, stderr=f)
    rf = open(out)
    seen = {"text": "", "sync": 0}

    def wait_for(what, n):
        deadline = time.time() + 20
        while seen[what] < n:
            chunk = rf.read()
            if chunk:
                text = seen["text"] + chunk
                done, _, seen["text"] = text.rpartition("\n")
                seen["sync"] += done.count("\nsync") + (
                    1 if done.startswith("sync") else 0)
                if "received SUBACK" in done:
                    seen["suback"] = 1
            else:
                check(time.time() < deadline, "fast subscriber stuck "
                      "at %r" % seen)
                time.sleep(0.01)

    seen["suback"] = 0
    wait_for("suback", 1)
    p = Client(port, "pub")
    payload = b"z" * 10000
    for i in range(2400):
        p.c.publish("flood", payload, 0)
        if i % 10 == 9:
            p.pub("flood", b"sync", qos=1)
            wait_for("sync", (i + 1) // 10)
    p.pub("flood", b"end", qos=1)
    p.close()
    try:
        fast.wait(30)
    except subprocess.TimeoutExpired:
        fast.kill()
        fast.wait()
    rf.close()
    lines = open(out).read().splitlines()
    n = sum(1 for x in lines if x in ("z" * 10000, "sync", "end"))
    check(n == 2641, "fast subscriber got %d of 2641: %r" % (
        n, [x for x in lines if not x.startswith("z")][-5:]))
    return slow


def test_sys_topics_with_mosquitto_names():
    with Daemon(CONF, ports={"maxc": 0, "hard": "64M"}) as d:
        vals = sys_values(d.port, lambda v: all(n in v for n in NAMES) and
                          int(v["clients/connected"]) >= 1)
        missing = [n for n in NAMES if n not in vals]
        check(not missing, "missing $SYS topics %r in %r" % (missing, vals))
        check(vals["version"].startswith("firehosed "), vals["version"])
        check(vals["uptime"].endswith(" seconds"), vals["uptime"])
        check(int(vals["clients/connected"]) >= 1, vals)


def test_messages_sent_and_received_count_every_packet():
    """As Mosquitto 2.0: $SYS/broker/messages/sent and /received count
    every MQTT packet, publish/messages/ only PUBLISHes. A client's
    CONNECT, SUBSCRIBE, QoS 1 PUBLISH to itself, PINGREQ and DISCONNECT
    are 4 more packets received than PUBLISHes; CONNACK, SUBACK, PUBACK,
    PINGRESP and the PUBLISH back 4 more sent."""
    names = ["messages/sent", "publish/messages/sent",
             "messages/received", "publish/messages/received"]
    with Daemon(CONF, ports={"maxc": 0, "hard": "64M"}) as d:
        w = Raw(d.port, connect_pkt("sys-watch"))
        w.send(subscribe_pkt(1, [("$SYS/broker/" + n, 0) for n in names]))
        check(w.read()[0] == 9, "SUBACK")

        def tick():
            """(sent, received) packets more than PUBLISHes at the next
            tick (not the retained values of the last one: the watcher
            was not there then to get a PUBLISH between them)."""
            vals = {}
            while len(vals) < len(names):
                m = w.read_publish()
                check(m is not None, "no $SYS tick")
                if not m[4]:
                    vals[m[0][len("$SYS/broker/"):]] = int(m[1])
            return (vals["messages/sent"] - vals["publish/messages/sent"],
                    vals["messages/received"] -
                    vals["publish/messages/received"])

        before = tick()
        r = Raw(d.port, connect_pkt("seq"))
        r.send(subscribe_pkt(1, [("seq/t", 0)]))
        check(r.read()[0] == 9, "SUBACK")
        r.send(publish_pkt("seq/t", "x", qos=1, mid=2))
        got = sorted(r.read()[0] for _ in range(2))
        check(got == [3, 4], "PUBLISH and PUBACK, got types %r" % got)
        r.send(packet(0xc0))
        check(r.read()[0] == 13, "PINGRESP")
        r.send(packet(0xe0))
        r.close()
        after = tick()
        sent, received = (after[0] - before[0], after[1] - before[1])
        check(sent == 4, "CONNACK, SUBACK, PUBACK, PINGRESP: %d packets "
              "sent more than PUBLISHes, want 4" % sent)
        check(received == 4, "CONNECT, SUBSCRIBE, PINGREQ, DISCONNECT: "
              "%d packets received more than PUBLISHes, want 4" % received)
        w.close()


def test_hash_does_not_match_sys():
    with Daemon(CONF, ports={"maxc": 0, "hard": "64M"}) as d:
        c = Client(d.port, "hash")
        c.sub("#", 0)
        # a $SYS tick after the subscription, seen by a $SYS reader
        s = Client(d.port, "sys")
        s.sub("$SYS/broker/uptime", 0)
        m = s.get()
        while m is not None and m.retain:
            m = s.get()
        check(m is not None, "no $SYS tick")
        c.nothing()
        s.close()
        c.close()


def test_clients_cannot_publish_to_sys():
    with Daemon(CONF, ports={"maxc": 0, "hard": "64M"}) as d:
        s = Client(d.port, "sys")
        s.sub("$SYS/broker/fake", 0)
        c = Client(d.port, "hash")
        c.pub("$SYS/broker/fake", "x", qos=1, retain=True)
        s.nothing(via=c)
        late = Client(d.port, "late")
        late.sub("$SYS/broker/fake", 0)
        late.nothing()
        for x in (s, c, late):
            x.close()


def test_slow_consumer_below_hard_cap_loses_qos0_counted():
    with Daemon(CONF, ports={"maxc": 0, "hard": "64M"}) as d:
        slow = flood(d.port, "slow", d.tmp)
        vals = sys_values(d.port, lambda v: int(v.get(
            "publish/messages/dropped", "0")) > 0)
        check("publish/messages/dropped" in vals, "no dropped count")
        check(int(vals["publish/messages/dropped"]) > 0,
              "no drops counted: %r" % vals)
        # still connected: what was kept drains, then the PINGRESP
        slow.send(b"\xc0\x00")
        for _ in range(10000):
            p = slow.read(20)
            check(p is not None, "slow consumer: no PINGRESP")
            if p[0] == 13:
                break
        else:
            check(False, "slow consumer: no PINGRESP after 10000 packets")
        slow.close()


def test_slow_consumer_over_hard_cap_disconnected():
    with Daemon(CONF, ports={"maxc": 0, "hard": "256k"}) as d:
        slow = flood(d.port, "slow", d.tmp)
        # disconnected: reading drains its socket, then EOF
        check(slow.closed(20), "slow consumer not disconnected")
        check("slow consumer" in d.logtext(), "no slow consumer log")


def test_max_connections():
    with Daemon(CONF, ports={"maxc": 3, "hard": "64M"}) as d:
        a = Client(d.port, "a")
        b = Client(d.port, "b")
        c = Client(d.port, "c")
        r = Raw(d.port)
        check(r.closed(), "4th connection over max_connections accepted")
        a.close()
        deadline = time.time() + 10
        while True:
            try:
                e = Raw(d.port, connect_pkt("e"))
                break
            except (AssertionError, EOFError):
                check(time.time() < deadline, "no room after a left")
                time.sleep(0.1)
        e.close()
        b.close()
        c.close()


fhtest.run_cases(globals())
