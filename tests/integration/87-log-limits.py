#!/usr/bin/python3
"""The event log's bounds: retention by time and by size drops the oldest
events; an SSE reader that stops reading is cut off, with the reason, and
the daemon's memory stays bounded; with no state_dir the log lives in
memory, bounded the same way."""
import http.client
import json
import re
import socket
import time

import os
import tempfile

from fhtest import FIREHOSED, Daemon, check, free_port, run, run_cases
from mqtttest import Client

CONF = """[gateway]
state_dir = {state}
[broker]
anonymous_publish = true
sys_interval = 0
max_output_buffer = 64M
[listener mqtt]
bind = 127.0.0.1:{port}
[listener web]
protocol = ws
bind = 127.0.0.1:{web}
[log]
"""


def daemon(log="", state="{tmp}/state"):
    return Daemon(CONF.replace("{state}", state) + log,
                  ports={"web": free_port()})


def get(d, path):
    c = http.client.HTTPConnection("127.0.0.1", d.ports["web"], timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def events(d, query=""):
    st, body = get(d, "/v1/events?limit=10000&" + query)
    check(st == 200, "%d %r" % (st, body))
    return json.loads(body)


def metric(d, name):
    st, body = get(d, "/metrics")
    m = re.search(r"^%s (\S+)$" % re.escape(name), body.decode(), re.M)
    return float(m.group(1)) if m else None


def wait_for(cond, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def publish(d, topic, payloads, qos=1):
    c = Client(d.port)
    for p in payloads:
        c.pub(topic, p, qos=qos)
    c.sync()
    c.close()


def test_retention_by_time():
    with daemon("retention = 2s\n") as d:
        publish(d, "old/a", [json.dumps({"n": i}) for i in range(5)])
        old = events(d, "topic=old/%23")
        check(len(old) == 5, "logged %r" % old)
        wait_for(lambda: events(d) == [], "every event to go")
        check(metric(d, "firehose_log_dropped_retention") >= 5, "counted")
        publish(d, "new/a", ['{"n":5}'])
        evs = events(d, "topic=new/%23")
        check(len(evs) == 1 and evs[0]["seq"] > old[-1]["seq"],
              "seq after an empty log: %r" % evs)
        # the high-water mark survives a restart with an empty log too
        wait_for(lambda: events(d) == [], "the last event to go")
        d.stop()
        d.start()
        c = Client(d.port)
        c.pub("new/a", '{"n":6}', qos=1)
        c.close()
        evs2 = events(d, "topic=new/%23")
        check(len(evs2) == 1 and evs2[0]["seq"] > evs[0]["seq"],
              "seq after restart %r, before %r" % (evs2, evs))


def test_retention_by_size():
    with daemon("max_size = 64k\n") as d:
        pad = "x" * 900
        publish(d, "big/a", [json.dumps({"n": i, "pad": pad})
                             for i in range(300)], qos=0)
        wait_for(lambda: (metric(d, "firehose_log_bytes") or 1e9) <= 65536,
                 "the log to shrink to max_size")
        evs = events(d, "topic=big/%23")
        ns = [e["payload"]["n"] for e in evs]
        check(0 < len(ns) < 80, "kept %d" % len(ns))
        check(ns == list(range(300 - len(ns), 300)), "the newest are kept, "
              "in order: %r" % ns[:5])


def test_slow_sse_reader_is_cut_off():
    with daemon() as d:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", d.ports["web"]))
        s.sendall(b"GET /v1/stream?topic=slow/%23 HTTP/1.1\r\nHost: x"
                  b"\r\n\r\n")
        wait_for(lambda: metric(d, "firehose_log_streams") == 1,
                 "the stream to open")
        pad = "y" * 8000
        c = Client(d.port)
        for i in range(1500):       # 12 MB: far more than the bound
            c.pub("slow/a", json.dumps({"n": i, "pad": pad}), qos=0)
            if i % 100 == 99 and metric(d, "firehose_log_streams_dropped"):
                break
        c.sync()
        c.close()
        wait_for(lambda: metric(d, "firehose_log_streams_dropped") == 1,
                 "the reader to be dropped")
        rss = int(re.search(r"VmRSS:\s+(\d+)", open(
            "/proc/%d/status" % d.proc.pid).read()).group(1))
        check(rss < 150 * 1024, "RSS %d kB" % rss)
        # what it has not read is bounded, and ends with the reason
        got, s2 = b"", None
        s.settimeout(10)
        while len(got) < 64 * 1024 * 1024:
            b = s.recv(1 << 20)
            if not b:
                break
            got += b
        s.close()
        check(len(got) < 4 * 1024 * 1024, "read %d bytes" % len(got))
        tail = got[-300:].decode(errors="replace")
        check("event: error" in tail and "slow reader" in tail,
              "final event %r" % tail)
        check(metric(d, "firehose_http_streams") == 0, "stream freed")
        del s2


def test_no_state_dir_no_log_by_default():
    with daemon(state="") as d:
        st, body = get(d, "/v1/events")
        check(st == 404, "a log without state_dir nobody asked for: %d" % st)


def test_in_memory_log():
    with daemon("enabled = true\n", state="") as d:
        publish(d, "mem/a", [json.dumps({"n": i}) for i in range(3)])
        evs = events(d, "topic=mem/%23")
        check([e["payload"]["n"] for e in evs] == [0, 1, 2], "%r" % evs)
        check(metric(d, "firehose_log_max_size") == 64 * 1024 * 1024,
              "memory bound")


def test_log_disabled():
    with daemon("enabled = false\n") as d:
        st, body = get(d, "/v1/events")
        check(st == 404, "no route when off: %d" % st)
        c = Client(d.port)
        c.sub("$replay/seq/0/#", 0)   # a plain (empty) filter then
        c.close()


def test_config_errors():
    bad = [("retention = 0\n", "retention"), ("topics = a/#/b\n", "topics"),
           ("max_size = lots\n", "max_size"), ("colour = red\n", "colour"),
           ("topics = ,\nenabled = true\n", "topics")]
    tmp = tempfile.mkdtemp(prefix="fh-test-")
    path = os.path.join(tmp, "firehose.conf")
    for body, key in bad:
        with open(path, "w") as f:
            f.write("[listener m]\nbind = 127.0.0.1:1\n[log]\n" + body)
        r = run([FIREHOSED, "-t", "-c", path])
        check(r.returncode == 1 and "firehose.conf:4" in r.stderr + r.stdout
              and key in r.stderr + r.stdout, "%r: %r" % (body, r))
    with open(path, "w") as f:
        f.write("[listener m]\nbind = 127.0.0.1:1\n[log]\n"
                "topics = a/#,+/b\nretention = 1h\nmax_size = 10M\n")
    r = run([FIREHOSED, "-t", "-c", path])
    check(r.returncode == 0, "good config: %r" % (r,))
    os.unlink(path)
    os.rmdir(tmp)


if __name__ == "__main__":
    run_cases(globals())
