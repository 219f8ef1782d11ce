#!/usr/bin/python3
"""gerrit source config: firehosed -t names the file:line of what is wrong
(missing key_file, unreadable key, known_hosts required unless
host_key_check = false, bad values, unknown keys)."""
import os
import tempfile

from fhtest import FIREHOSED, check, main, need, run
from gerritsshd import keygen


def test():
    need("ssh-keygen")
    tmp = tempfile.mkdtemp(prefix="fh-gconf-")
    key = os.path.join(tmp, "id")
    keygen(key)
    kh = os.path.join(tmp, "known_hosts")
    open(kh, "w").close()
    base = "[source g]\ntype = gerrit\nhost = 127.0.0.1\n"
    good = base + "key_file = %s\nknown_hosts = %s\n" % (key, kh)
    cases = [
        (base + "known_hosts = %s\n" % kh, ":1: missing required key "
         "'key_file'"),
        (base + "key_file = %s/nope\nknown_hosts = %s\n" % (tmp, kh),
         ":4: key_file cannot load the private key"),
        (base + "key_file = %s.pub\nknown_hosts = %s\n" % (key, kh),
         ":4: key_file cannot load the private key"),
        (base + "key_file = %s\n" % key, ":1: known_hosts is required"),
        (base + "key_file = %s\nknown_hosts = %s/nope\n" % (key, tmp),
         ":5: known_hosts %s/nope: No such file" % tmp),
        (good + "port = 0\n", ":6: port must be 1..65535"),
        (good + "keepalive = soon\n", ":6:"),
        (good + "topic = a/#\n", ":6: topic must be a valid MQTT topic"),
        (good + "events_log_url = ftp://x/\n",
         ":6: events_log_url must be an http"),
        (good + "events_log_password_file = %s\n" % kh,
         ":6: events_log_password_file needs events_log_user"),
        (good + "hostname = x\n", ":6: unknown key 'hostname'"),
        (good + "qos = 3\n", ":6:"),
    ]
    path = os.path.join(tmp, "f.conf")
    for text, want in cases:
        with open(path, "w") as f:
            f.write(text)
        r = run([FIREHOSED, "-t", "-c", path])
        out = r.stdout + r.stderr
        check(r.returncode == 1, "%r: exit %d: %s" % (text, r.returncode,
                                                      out))
        check(path + want in out, "%r: want %r in %r" % (text, want, out))
    for text in (good, base + "key_file = %s\nhost_key_check = false\n"
                 % key, good + "events_log_url = https://r/a/plugins/"
                 "events-log/events/\nevents_log_user = u\n"
                 "events_log_password_file = %s\nqos = 1\nretain = true\n"
                 "keepalive = 10s\nbackoff_max = 5m\nmax_line = 1M\n" % kh):
        with open(path, "w") as f:
            f.write(text)
        r = run([FIREHOSED, "-t", "-c", path])
        check(r.returncode == 0, "%r rejected: %s" % (text,
                                                      r.stdout + r.stderr))


main(test)
