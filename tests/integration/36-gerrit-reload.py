#!/usr/bin/python3
"""gerrit source, SIGHUP: a source stopped by a host key mismatch reads
known_hosts again and connects once it holds the right key; a reload
with a broken key file keeps the source as it was."""
import json
import os
import shutil
import signal

import fhtest
from fhtest import Daemon, check
from gerritsshd import Sshd, Subscriber, keygen, wait_for

CONF = ("[gateway]\nlog_level = debug\n"
        "[listener mqtt]\nbind = 127.0.0.1:{port}\n")


def setup(kh_name):
    """A daemon whose source reads known_hosts from kh_name."""
    d = Daemon(CONF, wait=None)
    sshd = Sshd(d.tmp)
    sshd.stream(1, [json.dumps({"type": "ok", "project": "p"})])
    kh = os.path.join(d.tmp, kh_name)
    with open(d.conf, "w") as f:
        f.write(CONF.format(port=d.port) + sshd.source(
            known_hosts=kh, backoff_max="1s"))
    return d, sshd, kh


def test_fixed_known_hosts_lets_a_stopped_source_connect():
    d, sshd, kh = setup("known_hosts.reload")
    wrong = keygen(os.path.join(d.tmp, "other_host_key"))
    with open(kh, "w") as f:
        f.write("[127.0.0.1]:%d %s\n" % (sshd.port,
                                         " ".join(wrong.split()[:2])))
    with d:
        d.start()
        sub = Subscriber(d.port)
        try:
            sshd.start()
            wait_for(lambda: "this source is stopped" in d.logtext(), 20,
                     "the refusal")
            shutil.copy(sshd.known_hosts, kh)
            d.send(signal.SIGHUP)
            d.wait_log("connecting again after the reload")
            got = sub.wait(1)
        finally:
            sub.close()
            d.stop()
            sshd.stop()
        check(got[0][0] == "gerrit/p/ok", "got %r" % got)
        check("known_hosts read again" in d.logtext(), "reload not logged")


def test_broken_key_file_on_reload_keeps_the_source():
    d, sshd, kh = setup("known_hosts.copy")
    shutil.copy(sshd.known_hosts, kh)
    with d:
        d.start()
        sub = Subscriber(d.port)
        try:
            sshd.start()
            got = sub.wait(1)
            os.rename(sshd.client_key, sshd.client_key + ".gone")
            d.send(signal.SIGHUP)
            d.wait_log("reload failed")
            os.rename(sshd.client_key + ".gone", sshd.client_key)
        finally:
            sub.close()
            d.stop()
            sshd.stop()
        check("source gerrit: key_file: cannot load the private key"
              in d.logtext(), d.logtext()[-2000:])
        check(got[0][0] == "gerrit/p/ok", "got %r" % got)


fhtest.run_cases(globals())
