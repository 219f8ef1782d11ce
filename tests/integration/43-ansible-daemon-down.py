#!/usr/bin/python3
"""A down or hung daemon never hurts a playbook: it finishes as it would
without the plugin, with one warning, well within a generous bound."""
import re
import socket
import time

import fhtest
from fhtest import Daemon, check, need
import fhansible as fa

BOUND = 60  # seconds; generous, not a performance assertion


def recap(out):
    return re.findall(r"^(\S+)\s+: (ok=.*)$", out, re.M)


def run_checked(tmp, url, want_rc, want_recap, what):
    t0 = time.monotonic()
    r = fa.playbook(tmp, url, timeout=BOUND + 30)
    took = time.monotonic() - t0
    out = r.stdout + r.stderr
    check(r.returncode == want_rc, "%s: rc %d, want %d\n%s" % (
        what, r.returncode, want_rc, out))
    check(recap(out) == want_recap, "%s: recap %r\n%s" % (
        what, recap(out), out))
    n = out.count("[WARNING]: firehose:")
    check(n == 1, "%s: %d firehose warnings, want 1\n%s" % (what, n, out))
    check(took < BOUND, "%s: took %.1fs" % (what, took))
    print("%s: finished in %.1fs" % (what, took))


@fhtest.once
def reference():
    """The same playbook against a running daemon, which is then stopped
    (cleanly); its directory stays for the runs below."""
    need("ansible-playbook")
    p = fa.ports()
    d = Daemon(fa.config(), ports=p)
    try:
        fa.wait_http(p["http"])
        ref = fa.playbook(d.tmp, "http://127.0.0.1:%d" % p["http"])
    finally:
        d.stop()
    out = ref.stdout + ref.stderr
    check("[WARNING]" not in out, "warning with a live daemon:\n" + out)
    want_rc, want_recap = ref.returncode, recap(out)
    check(want_rc == 4 and len(want_recap) == 2,
          "reference run: rc %d\n%s" % (want_rc, out))
    return d.tmp, p["http"], want_rc, want_recap


def test_stopped_daemon_connection_refused():
    tmp, port, want_rc, want_recap = reference()
    run_checked(tmp, "http://127.0.0.1:%d" % port, want_rc, want_recap,
                "stopped daemon")


def test_missing_unix_socket():
    tmp, _, want_rc, want_recap = reference()
    run_checked(tmp, "unix:%s/nosuch.sock" % tmp, want_rc, want_recap,
                "missing unix socket")


def test_hung_daemon_accepts_and_never_answers():
    tmp, _, want_rc, want_recap = reference()
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(64)
    try:
        run_checked(tmp, "http://127.0.0.1:%d" % hung.getsockname()[1],
                    want_rc, want_recap, "hung daemon")
    finally:
        hung.close()


fhtest.run_cases(globals())
