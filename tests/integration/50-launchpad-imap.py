#!/usr/bin/python3
"""Launchpad source against a real dovecot: IDLE wakes it up, each bug task
is one event on launchpad/<project>/bug/<n> with the decoded body, foreign
mail stays unread and is looked at once, then TLS (imaps) with move:FOLDER
and plain IMAP with delete, and polling when the server has no IDLE."""
import json
import os
import tempfile

import urllib.request

import fhtest
import imapd
from fhtest import Daemon, check
from mqtttest import Client

CONF = """[broker]
sys_interval = 0
[listener mqtt]
bind = 127.0.0.1:{port}
[listener web]
protocol = ws
bind = 127.0.0.1:{web}
[source lp]
type = launchpad
url = {url}
user = lpuser
password_file = {tmp}/lp.pass
poll_interval = {poll}
after_publish = {after}
backoff_max = 2s
{extra}
"""

# poll_interval far beyond the waits below: within a test only IDLE (or
# the first cycle at start) can bring mail in.
LONG = "600s"


def daemon(url, after="seen", poll=LONG, extra=""):
    tmp = tempfile.mkdtemp(prefix="fh-test-")
    with open(os.path.join(tmp, "lp.pass"), "w") as f:
        f.write(imapd.PASSWORD + "\nsecond line is ignored\n")
    conf = CONF.replace("{url}", url).replace("{poll}", poll) \
        .replace("{after}", after).replace("{extra}", extra)
    return Daemon(conf, tmp=tmp, args=["-v"],
                  ports={"web": fhtest.free_port()})


def events(sub, n, timeout=15):
    out = []
    for _ in range(n):
        m = sub.get(timeout)
        check(m is not None, "only %d of %d events: %r" % (
            len(out), n, [t for t, _ in out]))
        out.append((m.topic, json.loads(m.payload)))
    return out


STATE = {}


@fhtest.once
def dovecot():
    """A dovecot with IDLE for the cases below, in order (the mailbox
    carries over from case to case); the last case stops it."""
    imapd.need_dovecot()
    tmp = tempfile.mkdtemp(prefix="fh-lp-")
    dc = imapd.Dovecot(tmp)
    dc.__enter__()
    STATE["dc"], STATE["tmp"] = dc, tmp
    dc.start()
    return (dc, "imap://127.0.0.1:%d/INBOX" % dc.port,
            "imaps://127.0.0.1:%d/INBOX" % dc.tls_port)


@fhtest.once
def first():
    """The first daemon: plain IMAP, IDLE, after_publish = seen."""
    dc, plain, _ = dovecot()
    d = daemon(plain, extra="max_mail_size = 64k")
    STATE["d1"] = d
    sub = Client(d.port, "watcher")
    sub.sub("launchpad/#", 1)
    STATE["sub1"] = sub
    check(wait_log(d, "IDLE on INBOX"), "IDLE never started")
    return dc, d, sub


def test_bug_mail_is_an_event_with_the_decoded_body():
    dc, d, sub = first()
    dc.deliver(imapd.bug_mail(
        1680938, "octavia", "[NEW] UDP listeners",
        "Grüße — a=b and c=d, long line " + "x" * 100 + "\n"))
    ev = events(sub, 1)
    topic, p = ev[0]
    check(topic == "launchpad/octavia/bug/1680938", topic)
    check(p["body"].startswith("Grüße — a=b and c=d"), p["body"])
    check("=\n" not in p["body"] and "=3D" not in p["body"],
          "QP left in the body: %r" % p["body"])
    check(p["event-type"] == "bug" and p["project"] == "octavia" and
          p["bug-number"] == "1680938" and
          p["commenters"] == ["bob"] and
          p["bug-reporter"] == "Bob Example (bob)", p)


def test_one_event_per_affected_project():
    dc, d, sub = first()
    dc.deliver(imapd.bug_mail(
        1652233, "nova", "Re: option warnings twice", "also glance",
        extra_tasks=["product=glance; status=Invalid; "
                     "importance=Low; assignee=None;",
                     "distribution=ubuntu; sourcepackage=nova; "
                     "component=main; status=New; importance="
                     "Undecided; assignee=None;"]))
    ev = events(sub, 3)
    check(sorted(t for t, _ in ev) == [
        "launchpad/glance/bug/1652233",
        "launchpad/nova/bug/1652233",
        "launchpad/ubuntu/bug/1652233"], ev)
    check({p.get("project"): p["status"] for _, p in ev} ==
          {"nova": "New", "glance": "Invalid", None: "New"}, ev)


def test_foreign_mail_left_unread_and_looked_at_once():
    dc, d, sub = first()
    dc.deliver(imapd.foreign_mail("hello"))
    check(wait_log(d, "is not Launchpad mail"), "foreign not seen")
    # A later Launchpad mail still gets through; its cycle fetches the
    # foreign one first if it were looked at again: the sentinel.
    dc.deliver(imapd.bug_mail(3, "swift", "x", "after foreign"))
    ev = events(sub, 1)
    check(ev[0][0] == "launchpad/swift/bug/3", ev)
    sub.nothing()
    check(d.logtext().count("is not Launchpad mail") == 1,
          "foreign mail parsed again")


def test_other_notifications_carry_their_headers():
    dc, d, sub = first()
    dc.deliver(imapd.question_mail(630000))
    ev = events(sub, 1)
    check(ev[0][0] == "launchpad", ev)
    check(ev[0][1]["X-Launchpad-Notification-Type"] == "question" and
          ev[0][1]["body"] == "How do I?\n", ev)


def test_over_max_mail_size_left_unread_no_stall():
    dc, d, sub = first()
    dc.deliver(imapd.bug_mail(4, "big", "x", "y" * 100000))
    check(wait_log(d, "larger than max_mail_size"), "big mail")
    dc.deliver(imapd.bug_mail(6, "small", "x", "after big"))
    ev = events(sub, 1)
    check(ev[0][0] == "launchpad/small/bug/6", ev)


def test_published_mail_marked_seen_the_rest_unread():
    dc, d, sub = first()
    flags = dc.flags()
    check(len(flags) == 7, flags)
    for uid, f in flags.items():
        check("FirehosePending" not in f, "%d: %s" % (uid, f))
    check(sorted(f for f in flags.values()) ==
          ["", ""] + ["\\Seen"] * 5, flags)


def test_counters():
    dc, d, sub = first()
    m = metrics(d)
    want = {"bug_mails": 4, "other_mails": 1, "foreign_mails": 1,
            "bad_mails": 1, "events": 7, "marked_done": 5, "connected": 1,
            "idle": 1}
    for k, v in want.items():
        check(k in m, "metric %s missing from %r" % (k, m))
        check(m[k] == v, "%s = %r, want %r" % (k, m[k], v))


def test_first_daemon_exits_cleanly():
    dc, d, sub = first()
    sub.close()
    with d:
        pass
    # forget the big one: later daemons have the default size limit
    c = dc.client()
    c.select("INBOX")
    typ, data = c.uid("SEARCH", "HEADER", "Subject", "\"[Bug 4]\"")
    c.uid("STORE", data[0].split()[-1], "+FLAGS", "(\\Deleted)")
    c.expunge()
    c.logout()


def test_imaps_and_move_to_a_folder():
    dc, _, tls = dovecot()
    c = dc.client()
    c.create("Processed")
    c.logout()
    with daemon(tls, after="move:Processed",
                extra="ca_file = %s" % dc.cert) as d:
        sub = Client(d.port, "watcher2")
        sub.sub("launchpad/#", 1)
        check(wait_log(d, "IDLE on INBOX"), "IDLE over TLS")
        dc.deliver(imapd.bug_mail(77, "ironic", "tls", "über TLS\n",
                                  qp=False))
        ev = events(sub, 1)
        check(ev[0][0] == "launchpad/ironic/bug/77", ev)
        check(ev[0][1]["body"] == "über TLS\n", ev)
        check(wait(lambda: len(dc.flags("Processed")) == 1),
              "not moved: %r" % dc.flags("Processed"))
        # the foreign mail stays where it was, unread
        check(sorted(dc.flags().values()) ==
              [""] + ["\\Seen"] * 5, dc.flags())
        sub.close()


def test_wrong_ca_tls_fails_and_retries():
    dc, _, tls = dovecot()
    with daemon(tls, extra="ca_file = /etc/ssl/certs/"
                "ca-certificates.crt") as d:
        check(wait_log(d, "retrying with backoff"), "no TLS failure")


def test_plain_imap_and_delete():
    dc, plain, _ = dovecot()
    with daemon(plain, after="delete") as d:
        sub = Client(d.port, "watcher3")
        sub.sub("launchpad/#", 1)
        check(wait_log(d, "IDLE on INBOX"), "IDLE")
        dc.deliver(imapd.bug_mail(5, "heat", "del", "gone soon\n"))
        ev = events(sub, 1)
        check(ev[0][0] == "launchpad/heat/bug/5", ev)
        check(wait(lambda: len(dc.flags()) == 6),
              "not expunged: %r" % dc.flags())
        sub.close()


def test_zz_dovecot_stopped():
    if "dc" in STATE:
        STATE["dc"].__exit__(None, None, None)
        imapd.cleanup(STATE["tmp"])


def test_server_without_idle_is_polled():
    imapd.need_dovecot()
    tmp = tempfile.mkdtemp(prefix="fh-lp-")
    with imapd.Dovecot(tmp, idle=False) as dc:
        dc.start()
        plain = "imap://127.0.0.1:%d/INBOX" % dc.port
        with daemon(plain, poll="1s") as d:
            sub = Client(d.port, "poller")
            sub.sub("launchpad/#", 1)
            check(wait_log(d, "has no IMAP IDLE"), "IDLE not detected")
            dc.deliver(imapd.bug_mail(9, "keystone", "poll", "polled\n"))
            ev = events(sub, 1)
            check(ev[0][0] == "launchpad/keystone/bug/9", ev)
            sub.close()
    imapd.cleanup(tmp)


def metrics(d):
    """The source's counters from /metrics."""
    url = "http://127.0.0.1:%d/metrics" % d.ports["web"]
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    got = {}
    for line in text.splitlines():
        if line.startswith("firehose_source_") and 'source="lp"' in line:
            name, _, value = line.rpartition(" ")
            key = name.partition("{")[0][len("firehose_source_"):]
            got[key] = int(float(value))
    return got


def wait(cond, timeout=15):
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def wait_log(d, text, timeout=15):
    return wait(lambda: text in d.logtext(), timeout)


fhtest.run_cases(globals())
