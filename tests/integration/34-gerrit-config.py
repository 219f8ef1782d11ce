#!/usr/bin/python3
"""gerrit source config: firehosed -t names the file:line of what is wrong
(missing key_file, unreadable key, known_hosts required unless
host_key_check = false, bad values, unknown keys)."""
import os
import tempfile

import fhtest
from fhtest import FIREHOSED, check, run
from gerritsshd import keygen


TMP = tempfile.mkdtemp(prefix="fh-gconf-")
KEY = os.path.join(TMP, "id")
KH = os.path.join(TMP, "known_hosts")
PATH = os.path.join(TMP, "f.conf")
BASE = "[source g]\ntype = gerrit\nhost = 127.0.0.1\n"
GOOD = BASE + "key_file = %s\nknown_hosts = %s\n" % (KEY, KH)
REFUSED = [
    (BASE + "known_hosts = %s\n" % KH, ":1: missing required key "
     "'key_file'"),
    (BASE + "key_file = %s/nope\nknown_hosts = %s\n" % (TMP, KH),
     ":4: key_file cannot load the private key"),
    (BASE + "key_file = %s.pub\nknown_hosts = %s\n" % (KEY, KH),
     ":4: key_file cannot load the private key"),
    (BASE + "key_file = %s\n" % KEY, ":1: known_hosts is required"),
    (BASE + "key_file = %s\nknown_hosts = %s/nope\n" % (KEY, TMP),
     ":5: known_hosts %s/nope: No such file" % TMP),
    (GOOD + "port = 0\n", ":6: port must be 1..65535"),
    (GOOD + "keepalive = soon\n", ":6:"),
    (GOOD + "topic = a/#\n", ":6: topic must be a valid MQTT topic"),
    (GOOD + "events_log_url = ftp://x/\n",
     ":6: events_log_url must be an http"),
    (GOOD + "events_log_password_file = %s\n" % KH,
     ":6: events_log_password_file needs events_log_user"),
    (GOOD + "hostname = x\n", ":6: unknown key 'hostname'"),
    (GOOD + "qos = 3\n", ":6:"),
]
ACCEPTED = [
    GOOD,
    BASE + "key_file = %s\nhost_key_check = false\n" % KEY,
    GOOD + "events_log_url = https://r/a/plugins/events-log/events/\n"
    "events_log_user = u\nevents_log_password_file = %s\nqos = 1\n"
    "retain = true\nkeepalive = 10s\nbackoff_max = 5m\nmax_line = 1M\n"
    % KH,
]
KEYS = []


def setup():
    if not KEYS:
        fhtest.need("ssh-keygen")
        keygen(KEY)
        open(KH, "w").close()
        KEYS.append(KEY)


def refused(text, want):
    def case():
        setup()
        with open(PATH, "w") as f:
            f.write(text)
        r = run([FIREHOSED, "-t", "-c", PATH])
        out = r.stdout + r.stderr
        check(r.returncode == 1, "%r: exit %d: %s" % (text, r.returncode,
                                                      out))
        check(PATH + want in out, "%r: want %r in %r" % (text, want, out))
    return case


def accepted(text):
    def case():
        setup()
        with open(PATH, "w") as f:
            f.write(text)
        r = run([FIREHOSED, "-t", "-c", PATH])
        check(r.returncode == 0, "%r rejected: %s" % (text,
                                                      r.stdout + r.stderr))
    return case


for _i, (_text, _want) in enumerate(REFUSED):
    globals()["test_refused_%02d" % _i] = refused(_text, _want)
for _i, _text in enumerate(ACCEPTED):
    globals()["test_accepted_%d" % _i] = accepted(_text)


fhtest.run_cases(globals())
