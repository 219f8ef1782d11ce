#!/usr/bin/python3
"""gerrit source: a host key that is not the one in known_hosts (or a host
missing from it) stops that source, loudly and once, before it
authenticates; the broker and another gerrit source keep working."""
import json
import os

import fhtest
from fhtest import Daemon, check
from gerritsshd import Sshd, Subscriber, keygen, wait_for


@fhtest.once
def refusals():
    """Two sources with a wrong and a missing host key, one good."""
    conf = ("[gateway]\nlog_level = debug\n"
            "[listener mqtt]\nbind = 127.0.0.1:{port}\n")
    d = Daemon(conf, wait=None)
    sshd = Sshd(d.tmp)
    sshd.stream(1, [json.dumps({"type": "ok", "project": "good/one"})])
    wrong = keygen(os.path.join(d.tmp, "other_host_key"))
    bad_kh = os.path.join(d.tmp, "known_hosts.wrong")
    with open(bad_kh, "w") as f:
        f.write("[127.0.0.1]:%d %s\n" % (sshd.port,
                                         " ".join(wrong.split()[:2])))
    unknown_kh = os.path.join(d.tmp, "known_hosts.other")
    with open(unknown_kh, "w") as f:
        f.write("[127.0.0.1]:1 %s\n" % " ".join(sshd.host_pub.split()[:2]))
    with open(d.conf, "w") as f:
        f.write(conf.format(port=d.port) +
                sshd.source("mitm", known_hosts=bad_kh, backoff_max="1s") +
                sshd.source("stranger", known_hosts=unknown_kh,
                            backoff_max="1s") +
                sshd.source("good", backoff_max="1s"))
    with d:
        d.start()
        sub = Subscriber(d.port)
        try:
            sshd.start()
            wait_for(lambda: d.logtext().count("this source is stopped")
                     == 2, 20, "both refusals")
            # The good one streams; the broker serves it.
            got = sub.wait(1)
            # The sentinel for "no retry": sshd goes away and the good
            # source retries twice (backoff_max 1s); a refused one that
            # retried would have by then too.
            sshd.stop()
            wait_for(lambda: d.logtext().count("retry in") >= 2, 20,
                     "the good source's retries")
        finally:
            sub.close()
            d.stop()
            sshd.stop()
        text = d.logtext()
        sshlog = sshd.logtext()
    return got, text, sshlog, sshd.port


def test_mismatch_stops_the_source_once():
    _, text, _, port = refusals()
    check("source mitm: HOST KEY MISMATCH: 127.0.0.1:%d offered "
          "ssh-ed25519 SHA256:" % port in text, text[-3000:])
    check(text.count("HOST KEY MISMATCH") == 1, "mismatch not logged once")


def test_unknown_host_stops_the_source_once():
    text = refusals()[1]
    check("source stranger: unknown host key" in text, text[-3000:])
    check(text.count("unknown host key") == 1, "unknown not logged once")


def test_good_source_and_broker_keep_working():
    got, text, _, _ = refusals()
    check("source good: streaming events" in text, "good source down")
    check(got[0][0] == "gerrit/good/one/ok", "got %r" % got)


def test_refused_sources_never_offer_their_key():
    sshlog = refusals()[2]
    check(sshlog.count("Accepted publickey") == 1, sshlog)


fhtest.run_cases(globals())
