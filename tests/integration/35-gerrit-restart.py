#!/usr/bin/python3
"""gerrit source with a state_dir: the daemon is stopped, events happen,
the daemon starts again. The source remembers the newest event it
published (and what it published in that second), so the gap since then
comes from events-log, each event once, and nothing is published twice."""
import json
import os
import time

import fhtest
from fhtest import Daemon, check
from gerritsshd import EventsLog, Sshd, Subscriber


def event(n, t):
    return {"type": "patchset-created", "project": "openstack/nova",
            "change": {"project": "openstack/nova", "number": 2000 + n},
            "patchSet": {"number": 1}, "eventCreatedOn": t}


@fhtest.once
def restart():
    """Stop, events while down, start again; the cases check it."""
    t0 = int(time.time()) - 300
    a = [event(i, t0 + i) for i in range(3)]
    b = [event(10, t0 + 2), event(11, t0 + 5), event(12, t0 + 6)]
    c = [event(20, t0 + 20)]
    # The sentinel: last on the live stream, so a duplicate comes before.
    end = {"type": "end-marker", "project": "zz", "eventCreatedOn": t0 + 30}
    log = EventsLog()
    log.events = list(a)
    conf = ("[gateway]\nlog_level = debug\nstate_dir = {tmp}/state\n"
            "[listener mqtt]\nbind = 127.0.0.1:{port}\n")
    d = Daemon(conf, wait=None)
    sshd = Sshd(d.tmp)
    sshd.stream(1, [json.dumps(x) for x in a])
    sshd.stream(2, [json.dumps(x) for x in c + [end]])
    with open(d.conf, "w") as f:
        f.write(conf.format(port=d.port, tmp=d.tmp) + sshd.source(
            backoff_max="1s", events_log_url=log.url,
            events_log_user="fh", events_log_password_file=os.path.join(
                d.tmp, "pw")))
    with open(os.path.join(d.tmp, "pw"), "w") as f:
        f.write("s3cret")
    with d:
        try:
            d.start()
            sub = Subscriber(d.port)
            sshd.start()
            first = sub.wait(len(a))
            sub.close()
            check(d.stop() == 0, "first daemon exit")
            sshd.stop()
            # While the daemon is down: B happens (B0 in A's last second).
            log.events += b + c
            d.start()
            sub = Subscriber(d.port)
            sshd.start()
            second = sub.wait_for_topic("gerrit/zz/end-marker")[:-1]
            sub.close()
        finally:
            d.stop()
            sshd.stop()
            log.stop()
        text = d.logtext()
    return first, second, text, log, t0, a, b, c


def test_gap_since_the_stop_comes_once_in_order():
    first, second, text, _, _, a, b, c = restart()
    nums = [json.loads(p)["change"]["number"] for _, p in first + second]
    want = [x["change"]["number"] for x in a + b + c]
    check(nums == want, "got %r, want %r\n%s" % (nums, want, text[-3000:]))


def test_resumes_after_the_newest_event_published():
    _, _, text, log, t0, _, _, _ = restart()
    check("resuming after the event of %d" % (t0 + 2) in text, text[-2000:])
    check(log.requests and log.requests[0][0] == t0 + 2,
          "requests %r" % log.requests)


fhtest.run_cases(globals())
