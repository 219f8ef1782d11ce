#!/usr/bin/python3
"""gerrit source against a real sshd: every event type in tests/data/gerrit
(old string and new integer numbers, unicode, no project), a 1 MB line
and malformed lines are replayed by "gerrit stream-events"; a subscriber
sees each good event once, on its topic, with a JSON-equal payload."""
import glob
import json
import os

import fhtest
from fhtest import Daemon, SRCDIR, check, need
from gerritsshd import Sshd, Subscriber, wait_for


def cases():
    """good: (input line, topic, event, exact payload), bad: lines."""
    good, bad = [], []
    for d in sorted(glob.glob(os.path.join(SRCDIR, "tests/data/gerrit/*"))):
        with open(os.path.join(d, "input"), "rb") as f:
            line = f.read()
        with open(os.path.join(d, "expected"), encoding="utf-8") as f:
            exp = f.read().split("\n")
        if exp[0].startswith("error:"):
            bad.append(line)
        else:
            good.append((line, exp[0], json.loads(exp[1]),
                         exp[1].encode()))
    return good, bad


@fhtest.once
def stream():
    """Replay every case through sshd once; the cases below check it."""
    need("ssh-keygen")
    good, bad = cases()
    big = {"type": "comment-added", "project": "big/one",
           "comment": "x" * (1 << 20), "eventCreatedOn": 1572010600}
    good.append((json.dumps(big).encode(), "gerrit/big/one/comment-added",
                 big, None))
    lines, want = [], []
    for i, (line, topic, ev, _) in enumerate(good):
        lines.append(line)
        want.append((topic, ev))
        if i % 7 == 3:		# interleave the malformed ones
            lines.append(bad[(i // 7) % len(bad)])
    lines += bad + [b"", b"   "]
    nbad = sum(1 for line in lines if line in bad)
    # Over max_line (2M): dropped, counted, and the stream goes on.
    huge = {"type": "comment-added", "project": "huge",
            "comment": "y" * (3 << 20)}
    lines.append(json.dumps(huge).encode())
    nbad += 1
    # The end marker: published last, so everything before it is in.
    end = {"type": "end-marker", "project": "zz"}
    lines.append(json.dumps(end).encode())
    want.append(("gerrit/zz/end-marker", end))

    conf = ("[gateway]\nlog_level = debug\n"
            "[broker]\nmax_packet_size = 4M\nmax_output_buffer = 8M\n"
            "[listener mqtt]\nbind = 127.0.0.1:{port}\n")
    with Daemon(conf, wait=None) as d:
        sshd = Sshd(d.tmp)
        sshd.stream(1, lines)
        with open(d.conf, "w") as f:
            f.write(conf.format(port=d.port) + sshd.source(keepalive="5s",
                                                              qos=1,
                                                              max_line="2M"))
        d.start()
        sub = Subscriber(d.port)
        try:
            sshd.start()
            got = sub.wait(len(want))
            wait_for(lambda: "streaming events" in d.logtext(), 5,
                     "streaming")
        finally:
            sub.close()
            sshd.stop()
            d.stop()
        return got, want, good, nbad, d.logtext()


def test_every_good_event_once_on_its_topic():
    got, want, _, _, _ = stream()
    check(len(got) == len(want), "got %d messages, want %d" % (
        len(got), len(want)))
    for (topic, payload), (wtopic, wev) in zip(got, want):
        check(topic == wtopic, "topic %r, want %r" % (topic, wtopic))
        check(json.loads(payload) == wev, "payload differs on %s: %.200r"
              % (topic, payload))


def test_payload_byte_for_byte():
    # Key order kept, UTF-8 as is: the golden payload byte for byte.
    got, _, good, _, _ = stream()
    for (topic, payload), (_, _, _, exact) in zip(got, good):
        if exact is not None:
            check(payload == exact, "%s: payload %.300r, want %.300r"
                  % (topic, payload, exact))


def test_malformed_lines_logged():
    log = stream()[4]
    check("bad event dropped (not valid JSON)" in log, log[-2000:])
    check("(no \"type\" string)" in log, "no-type not logged")


def test_line_over_max_line_dropped_and_counted():
    log = stream()[4]
    check("line longer than max_line (2097152 bytes) dropped: "
          '{"type": "comment-added", "project": "huge"' in log,
          "long line not logged")
    check("lines_too_long=1 " in log, "lines_too_long")


def test_counters_at_stop():
    _, want, _, nbad, log = stream()
    check("events=%d " % len(want) in log and
          "parse_errors=%d " % nbad in log,
          "counters at stop: " + log[-600:])


fhtest.run_cases(globals())
