#!/usr/bin/python3
"""gerrit source: sshd killed mid-stream and restarted. The source retries
with backoff (logged once, not per try), reconnects, and fills the gap
from an events-log plugin (python http.server, basic auth, a small
returnLimit so that it pages): every event emitted while sshd was down
arrives after the reconnect, in order, exactly once, although the
inclusive window and the new live stream both repeat some. Then gerrit
says dropped-output: the events it dropped come from events-log too."""
import json
import os
import time

import fhtest
from fhtest import Daemon, check
from fhtest import free_port
from gerritsshd import EventsLog, Sshd, Subscriber, metrics, wait_for


def event(n, t, kind="comment-added"):
    return {"type": kind, "change": {"project": "openstack/nova",
                                     "number": 1000 + n},
            "comment": "event %d" % n, "project": "openstack/nova",
            "eventCreatedOn": t}


@fhtest.once
def outage():
    """sshd down and up again, then dropped-output; the cases below check
    what arrived, the log and the counters."""
    t0 = int(time.time()) - 600
    # A: before the outage. B: while sshd is down (two share A's last
    # second, the window's inclusive start). C: after the reconnect, on
    # the live stream and (as gerrit stores everything) in the log too.
    a = [event(i, t0 + i) for i in range(4)]
    b = [event(10, t0 + 3), event(11, t0 + 3)] + \
        [event(12 + i, t0 + 10 + i) for i in range(5)]
    c = [event(20, t0 + 30), event(21, t0 + 31)]
    # E: dropped by gerrit for this slow reader, G: live after that.
    e = [event(30, t0 + 40), event(31, t0 + 41)]
    g = [event(40, t0 + 50)]
    # The sentinel: last on the live stream, so a duplicate would come
    # before it.
    end = {"type": "end-marker", "project": "zz", "eventCreatedOn": t0 + 60}
    log = EventsLog(limit=3)
    log.events = a + b + c + e + g

    conf = ("[gateway]\nlog_level = debug\n"
            "[listener mqtt]\nbind = 127.0.0.1:{port}\n"
            "[listener web]\nprotocol = ws\nbind = 127.0.0.1:{web}\n")
    web = free_port()
    d = Daemon(conf, wait=None, ports={"web": web})
    sshd = Sshd(d.tmp)
    sshd.stream(1, [json.dumps(x) for x in a])
    sshd.stream(2, [json.dumps(x) for x in c] +
                ['{"type":"dropped-output"}'] +
                [json.dumps(x) for x in g + [end]])
    pwfile = os.path.join(d.tmp, "events-log.password")
    with open(pwfile, "w") as f:
        f.write("s3cret\n")
    with open(d.conf, "w") as f:
        f.write(conf.format(port=d.port, web=web) + sshd.source(
            keepalive="5s", backoff_max="2s", qos=1,
            events_log_url=log.url, events_log_user="fh", events_log_limit=3,
            events_log_password_file=pwfile))
    with d:
        d.start()
        sub = Subscriber(d.port)
        try:
            sshd.start()
            sub.wait(len(a))
            sshd.stop()		# mid-stream: the session dies too
            wait_for(lambda: "lost the stream" in d.logtext(), 20,
                     "the loss to be noticed")
            # Let it retry a few times against a closed port.
            wait_for(lambda: d.logtext().count("retry in") >= 2, 20,
                     "retries")
            sshd.start()
            got = sub.wait_for_topic("gerrit/zz/end-marker")
            m = metrics(web, "gerrit")
        finally:
            sub.close()
            d.stop()
            sshd.stop()
            log.stop()
        text = d.logtext()
        conns = sshd.connections()
    check(got[-1][0] == "gerrit/zz/end-marker", "after the sentinel: %r"
          % got[-1:])
    got = got[:-1]
    return dict(got=got, text=text, conns=conns, m=m, log=log, t0=t0, a=a,
                b=b, c=c, e=e, g=g)


def test_every_event_once_in_order_across_outage_and_dropped_output():
    o = outage()
    got, b = o["got"], o["b"]
    comments = [json.loads(p).get("comment") for _, p in got]
    want = [x["comment"] for x in o["a"] + b + o["c"] + o["e"] + o["g"]]
    check([x for x in comments if x] == want, "got %r\nwant %r" % (
        comments, want))
    check(sorted(set(t for t, _ in got)) == [
        "gerrit//dropped-output", "gerrit/openstack/nova/comment-added"],
        "topics: %r" % set(t for t, _ in got))
    check(comments.count(None) == 1, "dropped-output: %r" % comments)
    check(json.loads(got[5][1]) == b[1], "payload differs")


def test_outage_logged_once_not_per_retry():
    text = outage()["text"]
    check(text.count("lost the stream") == 1, "loss logged more than once")
    outage_text = text[text.index("lost the stream"):]
    # Logged once per state change, not per retry: while sshd is down every
    # try fails alike; a try that meets sshd half-started may fail another
    # way, and that change is logged once too.
    msgs = [line.split("cannot stream from", 1)[1]
            for line in outage_text.splitlines()
            if "cannot stream from" in line]
    check(1 <= len(msgs) <= 3 and
          all(x != y for x, y in zip(msgs, msgs[1:])) and
          outage_text.count("retry in") >= 1,
          "outage logged per retry: %r" % msgs)


def test_reconnects_once_per_outage():
    conns = outage()["conns"]
    check(conns == 2, "%d stream connections" % conns)


def test_gap_fill_pages_from_the_window_start():
    o = outage()
    log, t0 = o["log"], o["t0"]
    # Pages: the first starts at A's last second; later ones move on.
    check(len(log.requests) >= 5, "requests %r" % log.requests)
    check(log.requests[0][0] == t0 + 3, "t1 %r, want %d" % (
        log.requests[0], t0 + 3))
    check("gap filled from events-log" in o["text"], o["text"][-2000:])


def test_counters():
    o = outage()
    m = o["m"]
    want = {"events": len(o["got"]) + 1, "gap_fills": 2,
            "dropped_output": 1,
            "gap_events": len(o["b"]) + len(o["c"]) + len(o["e"]) +
            len(o["g"]),
            "parse_errors": 0, "gap_fill_errors": 0, "connected": 1,
            "held": 0}
    for k, v in want.items():
        check(k in m, "metric %s missing from %r" % (k, m))
        check(m[k] == v, "metrics %s: %r, want %r" % (k, m[k], v))
    for k in ("reconnects", "duplicates"):
        check(k in m, "metric %s missing from %r" % (k, m))
    check(m["reconnects"] >= 2 and m["duplicates"] >= 4, "metrics %r" % m)


fhtest.run_cases(globals())
