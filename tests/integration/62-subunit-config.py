#!/usr/bin/python3
"""subunit source config: every bad value is a file:line error from -t;
one case per value."""
import os
import tempfile

import fhtest
from fhtest import FIREHOSED, check, run

BASE = "[source s]\ntype = subunit\n"
CASES = [
    ("", ":1: missing required key 'gearman'"),
    ("gearman =\n", ":3: 'gearman' must not be empty"),
    ("gearman = host:port\n", ":3: bad gearman server 'host:port'"),
    ("gearman = a:1, :4730\n", ":3: bad gearman server ':4730'"),
    ("gearman = ::1\n", ":3: bad gearman server '::1'"),
    ("gearman = a:1\nconcurrency = 0\n", ":4: concurrency must be 1..256"),
    ("gearman = a:1\nfetch_timeout = 0s\n", ":4: fetch_timeout must be"),
    ("gearman = a:1\nmax_stream_size = 0\n", ":4: max_stream_size must be"),
    ("gearman = a:1\ntopic = a/+/b\n", ":4: bad topic 'a/+/b'"),
    ("gearman = a:1\nca_file = /nonexistent/ca.pem\n",
     ":4: cannot read ca_file '/nonexistent/ca.pem'"),
    ("gearman = a:1\nfunction =\n", ":4: function must be 1..255 bytes"),
    ("gearman = a:1\nqos = 3\n", ":4:"),
    ("gearman = a:1\nnosuchkey = 1\n", ":4:"),
]


TMP = tempfile.mkdtemp(prefix="fh-subunit-conf-")
PATH = os.path.join(TMP, "f.conf")


def refused(text, want):
    def case():
        with open(PATH, "w") as f:
            f.write(BASE + text)
        r = run([FIREHOSED, "-t", "-c", PATH])
        out = r.stdout + r.stderr
        check(r.returncode == 1, "%r: exit %d, want 1: %s" % (
            text, r.returncode, out))
        check(PATH + want in out, "%r: want %r in %r" % (text, want, out))
    return case


for _i, (_text, _want) in enumerate(CASES):
    globals()["test_refused_%02d" % _i] = refused(_text, _want)


def test_valid_config_accepted():
    with open(PATH, "w") as f:
        f.write(BASE + "gearman = gearman.example.org, 127.0.0.1:4731,"
                " [::1]:4732, [::1]\nconcurrency = 8\nfetch_timeout = 2m\n"
                "max_stream_size = 1G\nworker_id = w\nqos = 1\n"
                "retain = true\n")
    r = run([FIREHOSED, "-t", "-c", PATH])
    check(r.returncode == 0, "valid config rejected: " + r.stdout + r.stderr)


fhtest.run_cases(globals())
