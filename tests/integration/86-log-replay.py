#!/usr/bin/python3
"""The event log: a consumer that was away gets exactly what it missed.

From GET /v1/events (JSON, NDJSON, paged), GET /v1/stream (Server-Sent
Events, resumed by Last-Event-ID) and MQTT $replay/ (mosquitto_sub and
paho, unmodified), in order, without duplicates, across a restart and a
kill -9; the ACL's read rules apply; bad parameters get 400 naming them.
"""
import base64
import http.client
import json
import socket
import subprocess
import threading
import time

import paho.mqtt.client as mqtt

import durabletest
from fhtest import Daemon, check, need, run_cases
from mqtttest import (Client, Raw, Raw5, ack5_pkt, ack_pkt, connect_pkt,
                      packet, parse_suback5, subscribe_pkt, unsubscribe5_pkt)

CONF = durabletest.CONF + """[listener web]
protocol = ws
bind = 127.0.0.1:{web}
path = /mqtt
[log]
topics = $other/#,+/#
"""


def daemon(conf=CONF, tmp=None, **kw):
    from fhtest import free_port
    ports = {"web": free_port()}
    if tmp is not None:
        ports["web"] = tmp[1]
        return Daemon(conf, tmp=tmp[0], ports=ports, **kw)
    return Daemon(conf, ports=ports, **kw)


def get(d, path, headers=None, user=None):
    """(status, headers dict lower-cased, body bytes)"""
    h = dict(headers or {})
    if user is not None:
        h["Authorization"] = "Basic " + base64.b64encode(
            ("%s:%s" % user).encode()).decode()
    c = http.client.HTTPConnection("127.0.0.1", d.ports["web"], timeout=10)
    c.request("GET", path, headers=h)
    r = c.getresponse()
    body = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, body


def events(d, query, **kw):
    st, h, body = get(d, "/v1/events?" + query, **kw)
    check(st == 200, "GET /v1/events?%s: %d %r" % (query, st, body))
    return json.loads(body), h


def head(d):
    _, h = events(d, "topic=none/at/all&limit=1")
    return int(h["x-firehose-head"])


def publish(d, topic, payloads, qos=1):
    c = Client(d.port)
    for p in payloads:
        c.pub(topic, p, qos=qos)
    c.close()


def numbered(evs):
    return [e["payload"]["n"] for e in evs]


def test_events_offline_consumer():
    with daemon() as d:
        h = head(d)
        publish(d, "o/a", [json.dumps({"n": i}) for i in range(10)])
        publish(d, "other/x", ['{"n":-1}'])
        evs, _ = events(d, "topic=o/%%23&seq=%d" % h)
        check(numbered(evs) == list(range(10)), "got %r" % evs)
        seqs = [e["seq"] for e in evs]
        check(seqs == sorted(set(seqs)) and seqs[0] > h, "seqs %r" % seqs)
        check(all(e["topic"] == "o/a" and e["qos"] == 1 for e in evs),
              "fields %r" % evs[0])
        check(all(e["time"].endswith("Z") for e in evs), evs[0]["time"])
        # several topic= and since= (a time)
        evs, _ = events(d, "topic=o/a&topic=other/%%2B&since=%s" %
                        evs[0]["time"])
        check(numbered(evs) == list(range(10)) + [-1], "got %r" % evs)


def test_events_paging():
    with daemon() as d:
        h = head(d)
        publish(d, "p/a", [json.dumps({"n": i}) for i in range(10)])
        got, q, pages = [], "topic=p/%%23&limit=3&seq=%d" % h, 0
        while q is not None and pages < 20:
            evs, hd = events(d, q)
            got += numbered(evs)
            pages += 1
            nxt = hd.get("x-firehose-next")
            check(nxt is None or "rel=\"next\"" in hd.get("link", ""),
                  "Link %r" % hd)
            q = None if nxt is None else \
                "topic=p/%%23&limit=3&seq=%s" % nxt
        check(got == list(range(10)), "paged %r" % got)
        check(pages == 4, "pages %d" % pages)
        # over the maximum: paged, not refused
        evs, hd = events(d, "topic=p/%%23&limit=99999999&seq=%d" % h)
        check(numbered(evs) == list(range(10)), "big limit %r" % evs)


def test_events_ndjson_and_base64():
    with daemon() as d:
        h = head(d)
        publish(d, "b/a", [b"\x00\xffnot json", '{"n":1}', "[1,2]"])
        st, hd, body = get(d, "/v1/events?topic=b/%%23&seq=%d" % h,
                           {"Accept": "application/x-ndjson"})
        check(st == 200 and hd["content-type"] == "application/x-ndjson",
              "%d %r" % (st, hd))
        lines = body.decode().splitlines()
        check(len(lines) == 3, "lines %r" % lines)
        evs = [json.loads(x) for x in lines]
        check(evs[0].get("payload_encoding") == "base64" and
              base64.b64decode(evs[0]["payload"]) == b"\x00\xffnot json",
              "base64 %r" % evs[0])
        check(evs[1]["payload"] == {"n": 1} and
              "payload_encoding" not in evs[1], "json %r" % evs[1])
        check(evs[2]["payload"] == [1, 2], "array %r" % evs[2])


def test_dollar_topics_not_matched_by_wildcards():
    with daemon() as d:
        h = head(d)
        publish(d, "$other/x", ['{"n":1}'])
        publish(d, "plain/x", ['{"n":2}'])
        evs, _ = events(d, "topic=%%23&seq=%d" % h)
        check([e["topic"] for e in evs] == ["plain/x"], "# %r" % evs)
        evs, _ = events(d, "topic=%%2B/x&seq=%d" % h)
        check([e["topic"] for e in evs] == ["plain/x"], "+ %r" % evs)
        evs, _ = events(d, "topic=%%24other/%%23&seq=%d" % h)
        check([e["topic"] for e in evs] == ["$other/x"], "$ %r" % evs)


def test_bad_parameters():
    bad = [("topic=a/%23/b", "topic"), ("topic=a%2Bb", "topic"),
           ("since=yesterday", "since"), ("since=2026-13-01T00:00:00Z",
                                          "since"),
           ("seq=-1", "seq"), ("seq=12x", "seq"), ("until=soon", "until"),
           ("limit=0", "limit"), ("limit=ten", "limit"),
           ("since=1h&seq=3", "seq"), ("colour=red", "colour"),
           ("topic=%ZZ", None)]
    with daemon() as d:
        for q, param in bad:
            st, hd, body = get(d, "/v1/events?" + q)
            check(st == 400, "%s: %d %r" % (q, st, body))
            if param is not None:
                check(json.loads(body).get("parameter") == param,
                      "%s: %r" % (q, body))
        st, _, body = get(d, "/v1/stream?heartbeat=0")
        check(st == 400 and json.loads(body)["parameter"] == "heartbeat",
              "stream: %d %r" % (st, body))
        st, _, body = get(d, "/v1/stream", {"Last-Event-ID": "x1"})
        check(st == 400, "Last-Event-ID: %d %r" % (st, body))
        st, _, _ = get(d, "/healthz")
        check(st == 200, "healthz %d" % st)


class Sse:
    """A raw Server-Sent Events reader."""

    def __init__(self, d, query, last_id=None):
        self.s = socket.create_connection(("127.0.0.1", d.ports["web"]),
                                          timeout=10)
        req = "GET /v1/stream?%s HTTP/1.1\r\nHost: x\r\n" % query
        if last_id is not None:
            req += "Last-Event-ID: %s\r\n" % last_id
        self.s.sendall((req + "\r\n").encode())
        self.buf = b""
        self._fill(b"\r\n\r\n")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        check(head.startswith(b"HTTP/1.1 200") and
              b"text/event-stream" in head, "head %r" % head)

    def _fill(self, until):
        while until not in self.buf:
            b = self.s.recv(65536)
            if not b:
                raise AssertionError("stream closed; have %r" %
                                     self.buf[-200:])
            self.buf += b

    def block(self):
        """The next block (event or comment), as a dict of its fields."""
        self._fill(b"\n\n")
        blk, self.buf = self.buf.split(b"\n\n", 1)
        out = {}
        for line in blk.decode().split("\n"):
            k, _, v = line.partition(":")
            out.setdefault(k, v[1:] if v.startswith(" ") else v)
        return out

    def event(self):
        for _ in range(100):
            b = self.block()
            if "data" in b:
                return b
        raise AssertionError("no event")

    def close(self):
        self.s.close()


def test_stream_resume_by_last_event_id():
    with daemon() as d:
        h = head(d)
        publish(d, "s/a", [json.dumps({"n": i}) for i in range(5)])
        r = Sse(d, "topic=s/%%23&seq=%d" % h)
        got = [json.loads(r.event()["data"]) for _ in range(5)]
        check([e["payload"]["n"] for e in got] == list(range(5)),
              "backlog %r" % got)
        # live, then away
        publish(d, "s/a", ['{"n":5}'])
        e = r.event()
        check(json.loads(e["data"])["payload"]["n"] == 5, "live %r" % e)
        last = e["id"]
        r.close()
        publish(d, "s/a", [json.dumps({"n": i}) for i in range(6, 12)])
        # back, with the URL of before and the last id seen: that wins
        r = Sse(d, "topic=s/%%23&seq=%d" % h, last_id=last)
        got = []
        for i in range(6, 12):
            ev = r.event()
            got.append(json.loads(ev["data"])["payload"]["n"])
            check(ev["id"] == str(json.loads(ev["data"])["seq"]), "id")
        check(got == list(range(6, 12)), "resumed %r" % got)
        publish(d, "s/a", ['{"n":12}'])
        ev = r.event()
        check(json.loads(ev["data"])["payload"]["n"] == 12, "seam %r" % ev)
        r.close()


def test_stream_backlog_live_seam_under_load():
    """Events published while the backlog is being read arrive once, in
    order: the seam has no gap and no duplicate."""
    with daemon() as d:
        h = head(d)
        publish(d, "z/a", [json.dumps({"n": i}) for i in range(2000)], 0)
        stop = threading.Event()

        def more():
            c = Client(d.port)
            for i in range(2000, 3000):
                c.pub("z/a", json.dumps({"n": i}), qos=0)
            c.sync()
            c.close()
            stop.set()
        t = threading.Thread(target=more)
        r = Sse(d, "topic=z/%%23&seq=%d" % h)
        t.start()
        got = [json.loads(r.event()["data"])["payload"]["n"]
               for _ in range(3000)]
        t.join(30)
        r.close()
        check(got == list(range(3000)), "order/dups: first bad at %r" %
              next((i for i, v in enumerate(got) if v != i), None))


def test_stream_event_bigger_than_its_bound():
    """One event larger than a stream's 1 MiB bound (a 900 kB binary
    payload is 1.2 MB of base64) still goes, in the backlog and live."""
    with daemon() as d:
        h = head(d)
        big = bytes(range(256)) * 3500
        publish(d, "huge/a", [big])
        r = Sse(d, "topic=huge/%%23&seq=%d" % h)
        e = json.loads(r.event()["data"])
        check(base64.b64decode(e["payload"]) == big, "backlog")
        publish(d, "huge/a", [big])
        e = json.loads(r.event()["data"])
        check(base64.b64decode(e["payload"]) == big, "live")
        r.close()


def test_stream_heartbeat():
    with daemon() as d:
        r = Sse(d, "topic=hb/%23&heartbeat=1")
        blocks = [r.block() for _ in range(2)]
        r.close()
        check(blocks[1].get("") == "keepalive", "heartbeat %r" % blocks)


def test_replay_mosquitto_sub():
    need("mosquitto_sub")
    with daemon() as d:
        h = head(d)
        publish(d, "m/a", [json.dumps({"n": i}) for i in range(7)])
        publish(d, "m/b/c", ['{"n":7}'])
        out = subprocess.run(
            ["mosquitto_sub", "-p", str(d.port), "-v", "-q", "1", "-C", "9",
             "-W", "10", "-t", "$replay/seq/%d/m/#" % h],
            capture_output=True, text=True, timeout=20)
        lines = out.stdout.splitlines()
        check(len(lines) == 9, "lines %r %r" % (lines, out.stderr))
        topics = [x.split(" ", 1)[0] for x in lines]
        check(topics == ["m/a"] * 7 + ["m/b/c", "$replay/done"],
              "topics %r" % topics)
        ns = [json.loads(x.split(" ", 1)[1])["n"] for x in lines[:8]]
        check(ns == list(range(8)), "order %r" % ns)
        done = json.loads(lines[8].split(" ", 1)[1])
        check(done["count"] == 8 and done["last_seq"] == head(d),
              "done %r" % done)
        # bad forms are refused in the SUBACK
        out = subprocess.run(
            ["mosquitto_sub", "-p", str(d.port), "-C", "1", "-W", "5",
             "-t", "$replay/yesterday/m/#"], capture_output=True, text=True,
            timeout=20)
        check("denied" in out.stderr + out.stdout, "refused %r" % (out,))


def test_replay_paho_by_time():
    with daemon() as d:
        h = head(d)
        publish(d, "q/a", [json.dumps({"n": i}) for i in range(5)])
        evs, _ = events(d, "topic=q/%%23&seq=%d" % h)
        since = evs[0]["time"][:19] + "Z"   # whole seconds: <= first
        c = Client(d.port)
        c.sub("q/#", 1)              # the live subscription beside it
        granted = c.sub("$replay/%s/q/#" % since, 1)
        check(granted == (1,), "granted %r" % (granted,))
        got = []
        for _ in range(6):
            m = c.get()
            check(m is not None, "replay stopped after %r" % got)
            got.append((m.topic, m.payload))
        check([t for t, _ in got] == ["q/a"] * 5 + ["$replay/done"],
              "topics %r" % got)
        check([json.loads(p)["n"] for _, p in got[:5]] == list(range(5)),
              "payloads %r" % got)
        last = json.loads(got[5][1])["last_seq"]
        check(last == head(d), "last_seq %r" % last)
        # and what comes after is the live subscription's
        publish(d, "q/a", ['{"n":5}'])
        c.expect("q/a", '{"n":5}')
        c.nothing()
        c.close()


def test_replay_limits():
    """At most 8 replays run at once per connection; finished ones do
    not count."""
    with daemon() as d:
        h = head(d)
        publish(d, "l/a", ['{"n":0}'])
        c = Client(d.port)
        rc, mid = c.c.subscribe([("$replay/seq/%d/l/#" % h, 0)] * 1 +
                                [("$replay/seq/%d/l/%d" % (h, i), 0)
                                 for i in range(8)])
        granted = c._wait_mid(mid)
        check(list(granted) == [0] * 8 + [128], "granted %r" % (granted,))
        dones = 0
        for _ in range(9):
            m = c.get()
            check(m is not None, "missing replay messages")
            dones += m.topic == "$replay/done"
        check(dones == 8, "dones %d" % dones)
        for i in range(10):         # one after the other: all served
            check(c.sub("$replay/seq/%d/l/#" % h, 0) == (0,), "sub %d" % i)
            check(c.get().topic == "l/a" and
                  c.get().topic == "$replay/done", "replay %d" % i)
        c.close()


def test_replay_qos1_within_a_small_queue():
    """A QoS 1 replay goes at the pace of the client's in-flight window:
    none of it is dropped by a queue limit smaller than the replay."""
    conf = CONF.replace("sys_interval = 0", "sys_interval = 0\n"
                        "max_queued_messages = 5\nmax_inflight_messages = 3")
    with daemon(conf) as d:
        h = head(d)
        publish(d, "w/a", [json.dumps({"n": i}) for i in range(300)])
        c = Client(d.port)
        c.sub("$replay/seq/%d/w/#" % h, 1)
        got = []
        for _ in range(301):
            m = c.get()
            check(m is not None, "stopped after %d" % len(got))
            got.append(m)
        c.close()
        check([json.loads(m.payload)["n"] for m in got[:300]] ==
              list(range(300)), "order")
        check(got[300].topic == "$replay/done" and
              json.loads(got[300].payload)["count"] == 300, "done")


def test_mqtt5_properties_are_kept_and_replayed():
    from paho.mqtt.properties import Properties
    from paho.mqtt.packettypes import PacketTypes
    with daemon() as d:
        h = head(d)
        pub = mqtt.Client(client_id="p5", protocol=mqtt.MQTTv5)
        pub.connect("127.0.0.1", d.port, 60)
        pub.loop_start()
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = ("k", "v")
        props.ContentType = "application/json"
        pub.publish("v5/a", '{"n":1}', 1, properties=props).wait_for_publish()
        pub.disconnect()
        pub.loop_stop()
        evs, _ = events(d, "topic=v5/%%23&seq=%d" % h)
        check(len(evs) == 1 and "properties" in evs[0], "logged %r" % evs)
        got, ready = [], threading.Event()
        sub = mqtt.Client(client_id="s5", protocol=mqtt.MQTTv5)
        sub.on_message = lambda c, u, m: (got.append(m), len(got) == 2 and
                                          ready.set())
        sub.connect("127.0.0.1", d.port, 60)
        sub.loop_start()
        sub.subscribe("$replay/seq/%d/v5/#" % h, 1)
        check(ready.wait(10), "replay: %r" % got)
        sub.disconnect()
        sub.loop_stop()
        m = got[0]
        check(m.topic == "v5/a" and m.payload == b'{"n":1}', "event")
        p = m.properties
        check(getattr(p, "UserProperty", None) == [("k", "v")] and
              getattr(p, "ContentType", None) == "application/json",
              "properties %r" % p)
        check(got[1].topic == "$replay/done", "done")


def test_restart_keeps_the_log():
    with daemon() as d:
        h = head(d)
        publish(d, "r/a", [json.dumps({"n": i}) for i in range(5)])
        before, _ = events(d, "topic=r/%%23&seq=%d" % h)
        d.stop()
        d.start()
        after, _ = events(d, "topic=r/%%23&seq=%d" % h)
        check(after == before, "after restart %r" % after)
        publish(d, "r/a", ['{"n":5}'])
        evs, _ = events(d, "topic=r/%%23&seq=%d" % before[-1]["seq"])
        check(numbered(evs) == [5] and evs[0]["seq"] > before[-1]["seq"],
              "new seq %r" % evs)
        # the three replays agree after the restart
        r = Sse(d, "topic=r/%%23&seq=%d" % h)
        s = [json.loads(r.event()["data"])["payload"]["n"]
             for _ in range(6)]
        r.close()
        check(s == list(range(6)), "stream %r" % s)
        c = Client(d.port)
        c.sub("$replay/seq/%d/r/#" % h, 0)
        m = [c.get() for _ in range(7)]
        c.close()
        check([x.topic for x in m if x] == ["r/a"] * 6 + ["$replay/done"],
              "replay %r" % m)


def test_kill9_keeps_what_was_delivered():
    """Every event a QoS 1 subscriber received (and acknowledged) is in
    the log after kill -9, whole, once."""
    with daemon() as d:
        h = head(d)
        got, lock = [], threading.Lock()
        sub = mqtt.Client(client_id="k9sub", clean_session=True)

        def on_message(c, u, m):
            with lock:
                got.append(m.payload)
        sub.on_message = on_message
        ready = threading.Event()
        sub.on_subscribe = lambda *a: ready.set()
        sub.connect("127.0.0.1", d.port, 60)
        sub.loop_start()
        sub.subscribe("k/#", 1)
        check(ready.wait(10), "no SUBACK")
        pub = mqtt.Client(client_id="k9pub")
        pub.connect("127.0.0.1", d.port, 60)
        pub.loop_start()
        for i in range(3000):
            pub.publish("k/a", json.dumps({"n": i, "pad": "x" * 200}), 1)
            with lock:
                if len(got) >= 1000:
                    break
            if i % 100 == 99:
                time.sleep(0.01)
        d.kill9()
        pub.loop_stop()
        sub.loop_stop()
        with lock:
            seen = [json.loads(p)["n"] for p in got]
        check(len(seen) > 0, "the subscriber saw nothing")
        d.start()
        logged, q, pages = [], "topic=k/%%23&limit=10000&seq=%d" % h, 0
        while q is not None and pages < 10:
            evs, hd = events(d, q)
            logged += evs
            pages += 1
            nxt = hd.get("x-firehose-next")
            q = None if nxt is None else "topic=k/%%23&limit=10000&seq=" + nxt
        ns = [e["payload"]["n"] for e in logged]
        check(len(ns) == len(set(ns)), "duplicates in the log")
        missing = sorted(set(seen) - set(ns))
        check(not missing, "delivered but not logged: %r" % missing[:10])
        check(all(e["payload"]["pad"] == "x" * 200 for e in logged),
              "a torn record")
        # the stream (resumed by Last-Event-ID) and $replay/ agree
        r = Sse(d, "topic=k/%23", last_id=h)
        s = [json.loads(r.event()["data"])["payload"]["n"] for _ in ns]
        r.close()
        check(s == ns, "stream after kill -9")
        c = Client(d.port)
        c.sub("$replay/seq/%d/k/#" % h, 1)
        m = [c.get() for _ in range(len(ns) + 1)]
        c.close()
        check(None not in m, "replay stopped early")
        check([json.loads(x.payload)["n"] for x in m[:-1]] == ns and
              m[-1].topic == "$replay/done", "replay after kill -9")


ACL = """topic read pub/#

user alice
topic readwrite #
"""


def acl_daemon():
    need("mosquitto_passwd")
    from fhtest import free_port
    import tempfile
    tmp = tempfile.mkdtemp(prefix="fh-test-")
    subprocess.run(["mosquitto_passwd", "-b", "-c", tmp + "/passwd",
                    "alice", "secret"], check=True, capture_output=True)
    with open(tmp + "/acl", "w") as f:
        f.write(ACL)
    conf = CONF.replace("anonymous_publish = true",
                        "anonymous_publish = false\npassword_file = "
                        "{tmp}/passwd\nacl_file = {tmp}/acl")
    return daemon(conf, tmp=(tmp, free_port()))


def test_acl_read_rules():
    with acl_daemon() as d:
        h = head(d)
        c = Client(d.port, user="alice", password="secret")
        c.pub("pub/x", '{"n":1}', qos=1)
        c.pub("secret/x", '{"n":2}', qos=1)
        c.close()
        evs, _ = events(d, "topic=%%23&seq=%d" % h)
        check([e["topic"] for e in evs] == ["pub/x"], "anonymous %r" % evs)
        evs, _ = events(d, "topic=%%23&seq=%d" % h, user=("alice", "secret"))
        check([e["topic"] for e in evs] == ["pub/x", "secret/x"],
              "alice %r" % evs)
        st, hd, _ = get(d, "/v1/events", user=("alice", "wrong"))
        check(st == 401 and "www-authenticate" in hd, "bad password %d" % st)
        r = Sse(d, "topic=%%23&seq=%d" % h)
        e = json.loads(r.event()["data"])
        check(e["topic"] == "pub/x", "stream %r" % e)
        r.close()
        a = Client(d.port)
        a.sub("$replay/seq/%d/#" % h, 0)
        m1, m2 = a.get(), a.get()
        a.close()
        check((m1.topic, m2.topic) == ("pub/x", "$replay/done") and
              json.loads(m2.payload)["count"] == 1, "replay %r %r" % (
                  m1.topic, m2.payload))


def test_anonymous_refused_when_not_allowed():
    conf = CONF.replace("anonymous_publish = true",
                        "allow_anonymous = false")
    with daemon(conf) as d:
        st, hd, _ = get(d, "/v1/events")
        check(st == 401, "anonymous %d" % st)
        st, _, _ = get(d, "/v1/stream")
        check(st == 401, "anonymous stream %d" % st)


def unsubscribe_pkt(mid, filters):
    body = mid.to_bytes(2, "big")
    for f in filters:
        b = f.encode()
        body += len(b).to_bytes(2, "big") + b
    return packet(0xA2, body)


def replay_unsubscribed(v5):
    """UNSUBSCRIBE from a running $replay/ filter stops it: nothing new
    is added for the client [MQTT-3.10.4-2], no $replay/done; what was
    already queued for it may still come (3.10.4) - here at most the
    in-flight window and the queue, 3 + 5 - of 300 events."""
    conf = CONF.replace("sys_interval = 0", "sys_interval = 0\n"
                        "max_queued_messages = 5\nmax_inflight_messages = 3")
    with daemon(conf) as d:
        h = head(d)
        publish(d, "u/a", [json.dumps({"n": i}) for i in range(300)])
        f = "$replay/seq/%d/u/#" % h
        if v5:
            r = Raw5(d.port, "unsub5")
            check(r.subscribe(1, [(f, 1)]) == [1], "SUBACK")
        else:
            r = Raw(d.port, connect_pkt("unsub", clean=True))
            r.send(subscribe_pkt(1, [(f, 1)]))
            p = r.read()
            check(p is not None and p[0] == 9 and p[2][2:] == b"\x01",
                  "SUBACK %r" % (p,))
        mids = []
        for _ in range(3):      # the window is full, none acknowledged
            p = r.read()
            check(p is not None and p[0] == 3, "want PUBLISH, got %r"
                  % (p,))
            mids.append(int.from_bytes(p[2][5:7], "big"))
        r.send(unsubscribe5_pkt(2, [f]) if v5 else unsubscribe_pkt(2, [f]))
        p = r.read()
        check(p is not None and p[0] == 11, "want UNSUBACK, got %r" % (p,))
        if v5:
            codes = parse_suback5(p)[3]
            check(codes == [0], "UNSUBACK reasons %r, want [0] (it was a "
                  "running replay)" % codes)
        # give a replay that was not stopped every chance to go on
        got, topics = 3, []
        while True:
            for mid in mids:
                r.send(ack5_pkt("puback", mid) if v5 else
                       ack_pkt("puback", mid))
            mids = []
            time.sleep(0.2)
            r.send(packet(0xc0))    # PINGREQ: the sentinel
            while True:
                p = r.read()
                check(p is not None, "no PINGRESP")
                if p[0] == 13:
                    break
                check(p[0] == 3, "unexpected packet %r" % (p,))
                tl = int.from_bytes(p[2][:2], "big")
                topics.append(p[2][2:2 + tl].decode())
                mids.append(int.from_bytes(p[2][2 + tl:4 + tl], "big"))
                got += 1
            if not mids:
                break
        check("$replay/done" not in topics, "$replay/done after UNSUBSCRIBE")
        check(got <= 8, "%d of 300 replayed events after UNSUBSCRIBE, want "
              "at most 8" % got)
        r.close()


def test_replay_stops_on_unsubscribe_311():
    replay_unsubscribed(False)


def test_replay_stops_on_unsubscribe_5():
    replay_unsubscribed(True)


def test_replay_qos0_resumes_when_the_output_drains():
    """A QoS 0 replay larger than max_output_buffer pauses while the
    client does not read and goes on when its output drains: all of it
    arrives, in order, then $replay/done."""
    conf = CONF.replace("sys_interval = 0", "sys_interval = 0\n"
                        "max_output_buffer = 64k")
    with daemon(conf) as d:
        h = head(d)
        pad = "x" * 4000
        publish(d, "o/a", [json.dumps({"n": i, "pad": pad})
                           for i in range(200)])
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.connect(("127.0.0.1", d.port))
        r = Raw.__new__(Raw)
        r.s, r.buf = s, b""
        r.s.settimeout(10)
        r.send(connect_pkt("drain", clean=True))
        check(r.read()[0] == 2, "CONNACK")
        r.send(subscribe_pkt(1, [("$replay/seq/%d/o/#" % h, 0)]))
        time.sleep(0.5)         # not reading: the replay must pause
        p = r.read()
        check(p is not None and p[0] == 9, "SUBACK %r" % (p,))
        ns = []
        for _ in range(201):
            m = r.read_publish()
            check(m is not None, "stalled after %d" % len(ns))
            if m[0] == "$replay/done":
                break
            ns.append(json.loads(m[1])["n"])
        check(ns == list(range(200)), "got %d, order %r..." % (len(ns),
                                                             ns[:5]))
        check(m[0] == "$replay/done", "no $replay/done")
        r.close()


if __name__ == "__main__":
    run_cases(globals())
