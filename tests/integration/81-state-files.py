#!/usr/bin/python3
"""[gateway] state_dir: a corrupt state file is moved aside and the daemon
keeps serving; a newer or foreign file, or a second daemon on the same
state_dir, is refused with a clear message; -t touches nothing."""
import glob
import os
import socket
import sqlite3
import time

import fhtest
from fhtest import FIREHOSED, Daemon, check, run

CONF = ("[gateway]\nstate_dir = {tmp}/state\n"
        "[broker]\n[listener mqtt]\nprotocol = mqtt\n"
        "bind = 127.0.0.1:{port}\n")


def connect_ok(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.close()


def wait_exit(d, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if d.proc.poll() is not None:
            return d.proc.returncode
        time.sleep(0.05)
    raise AssertionError("firehosed did not exit: " + d.logtext())


def test_corrupt():
    d = Daemon(CONF, wait=None)
    state = os.path.join(d.tmp, "state")
    os.mkdir(state)
    db = os.path.join(state, "firehose.db")
    with open(db, "wb") as f:
        f.write(b"\x00garbage, not SQLite\n" * 4000)
    with d:
        d.start()
        connect_ok(d.port)
        log = d.logtext()
        check("is corrupt" in log and "moved it aside to " + db +
              ".corrupt-" in log, "no clear corrupt report in:\n" + log)
        moved = glob.glob(db + ".corrupt-*")
        check(len(moved) == 1, "moved-aside file: %r" % moved)
        with open(moved[0], "rb") as f:
            check(f.read(8) == b"\x00garbage", "moved file is not the old")
        time.sleep(0.5)
        check(d.alive(), "daemon died after recovering:\n" + d.logtext())
        connect_ok(d.port)
        rc = d.stop()
        check(rc == 0, "exit %r after SIGTERM" % rc)
        with open(db, "rb") as f:
            check(f.read(16) == b"SQLite format 3\x00", "no fresh db")
        # The fresh file is fine: a restart reports nothing.
        before = len(d.logtext())
        d.start()
        connect_ok(d.port)
        check("corrupt" not in d.logtext()[before:],
              "fresh file reported corrupt:\n" + d.logtext())


def refused_store(setup, want):
    d = Daemon(CONF, wait=None)
    state = os.path.join(d.tmp, "state")
    os.mkdir(state)
    db = sqlite3.connect(os.path.join(state, "firehose.db"))
    db.executescript(setup)
    db.close()
    with d:
        d.start(wait=False)
        rc = wait_exit(d)
        log = d.logtext()
        check(rc == 1, "exit %r, want 1:\n%s" % (rc, log))
        check(want in log, "want %r in:\n%s" % (want, log))
        check(not glob.glob(os.path.join(state, "*.corrupt-*")),
              "a valid file was moved aside")
        d.proc = None
        d.logf.close()


def test_newer_version_refused():
    refused_store("PRAGMA user_version = 99;", "written by a newer firehosed")


def test_foreign_sqlite_file_refused():
    refused_store("CREATE TABLE t (x);", "not a firehose state file")


def test_in_use_and_check_only():
    with Daemon(CONF) as d:
        # -t validates without creating or locking anything.
        other = os.path.join(d.tmp, "other.conf")
        with open(other, "w") as f:
            f.write("[gateway]\nstate_dir = %s/never\n" % d.tmp)
        r = run([FIREHOSED, "-t", "-c", other])
        check(r.returncode == 0, r.stdout + r.stderr)
        check(not os.path.exists(os.path.join(d.tmp, "never")),
              "-t created the state dir")
        r = run([FIREHOSED, "-t", "-c", d.conf])
        check(r.returncode == 0, "-t next to a running daemon: " +
              r.stdout + r.stderr)
        # A second daemon on the same state_dir is refused.
        second = os.path.join(d.tmp, "second.conf")
        with open(second, "w") as f:
            f.write(CONF.format(tmp=d.tmp, port=d.port + 0).replace(
                "[listener mqtt]\nprotocol = mqtt\nbind = 127.0.0.1:%d\n"
                % d.port, ""))
        r = run([FIREHOSED, "-c", second], timeout=20)
        check(r.returncode == 1, "second daemon exit %d" % r.returncode)
        check("in use by another process" in r.stdout + r.stderr,
              r.stdout + r.stderr)
        connect_ok(d.port)
        check(d.alive(), "first daemon died")
        with open(other, "w") as f:
            f.write("[gateway]\nstate_sync = sometimes\n")
        r = run([FIREHOSED, "-t", "-c", other])
        check(r.returncode == 1 and ":2: bad state_sync 'sometimes'" in
              r.stdout, r.stdout)


fhtest.run_cases(globals())
