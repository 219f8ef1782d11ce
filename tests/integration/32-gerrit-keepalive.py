#!/usr/bin/python3
"""gerrit source: a peer that stops answering (its sshd session frozen with
SIGSTOP: TCP still up, no SSH replies) is found dead by the SSH keepalives
and dropped; the source reconnects and streams again."""
import json
import os
import signal
import time

import fhtest
from fhtest import Daemon, check
from gerritsshd import Sshd, Subscriber, wait_for


@fhtest.once
def frozen_peer():
    """A quiet live peer, then a frozen one; the cases check it."""
    conf = ("[gateway]\nlog_level = debug\n"
            "[listener mqtt]\nbind = 127.0.0.1:{port}\n")
    d = Daemon(conf, wait=None)
    sshd = Sshd(d.tmp)
    sshd.stream(1, [json.dumps({"type": "first", "project": "p"})])
    sshd.stream(2, [json.dumps({"type": "second", "project": "p"})])
    with open(d.conf, "w") as f:
        f.write(conf.format(port=d.port) + sshd.source(
            keepalive="1s", backoff_max="1s"))
    with d:
        d.start()
        sub = Subscriber(d.port)
        frozen = []
        try:
            sshd.start()
            sub.wait(1)
            # Quiet but alive for a while: keepalives are answered.
            wait_for(lambda: sshd.connections() == 1, 5, "the stream")
            time.sleep(4)   # four keepalive intervals, each answered
            quiet_log = d.logtext()
            frozen = sshd.sessions()
            sshd.signal_sessions(signal.SIGSTOP)
            wait_for(lambda: "peer dead" in d.logtext(), 20,
                     "the dead peer to be noticed")
            got = sub.wait(2)
        finally:
            sub.close()
            d.stop()
            for pid in frozen:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            sshd.stop()
        text = d.logtext()
        conns = sshd.connections()
    return got, conns, text, quiet_log


def test_quiet_live_peer_kept():
    quiet_log = frozen_peer()[3]
    check("peer dead" not in quiet_log, "a live peer was dropped")


def test_frozen_peer_dropped_after_keepalives():
    _, _, text, _ = frozen_peer()
    check("no answer to 3 keepalives" in text, text[-2000:])
    check("keepalive_timeouts=1 " in text, text[-600:])


def test_reconnects_and_streams_again():
    got, conns, _, _ = frozen_peer()
    check([t for t, _ in got] == ["gerrit/p/first", "gerrit/p/second"],
          "got %r" % got)
    check(conns == 2, "%d connections" % conns)


fhtest.run_cases(globals())
