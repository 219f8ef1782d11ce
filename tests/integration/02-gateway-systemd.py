#!/usr/bin/python3
"""Running under systemd: the test plays systemd's side of sd_notify(3).

It binds a unix datagram socket (a path in its temp dir, or an abstract
name), starts firehosed with NOTIFY_SOCKET pointing at it, and checks the
notifications: READY=1 only once the listeners accept, RELOADING=1 with
MONOTONIC_USEC then READY=1 around SIGHUP, WATCHDOG=1 pings from the event
loop, STOPPING=1 on SIGTERM. The unit file passes systemd-analyze verify.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import fhtest
from fhtest import FIREHOSED, SRCDIR, Daemon, check, skip_case


class Notify:
    """systemd's end of NOTIFY_SOCKET."""

    def __init__(self, tmp, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "fh-test-notify-%d-%d" % (os.getpid(), time.time_ns())
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.env = os.path.join(tmp, "notify")
            self.sock.bind(self.env)
        self.seen = []

    def next(self, timeout=10.0):
        """The next datagram as a dict of its KEY=VALUE lines."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode()
        except socket.timeout:
            raise AssertionError("no notification in %.0fs (seen: %r)"
                                 % (timeout, self.seen))
        msg = dict(line.split("=", 1) for line in data.split("\n") if line)
        self.seen.append(msg)
        return msg

    def wait_for(self, key, value="1", limit=50):
        """Skip other notifications (watchdog pings) until key=value."""
        for _ in range(limit):
            msg = self.next()
            if msg.get(key) == value:
                return msg
        raise AssertionError("no %s=%s in %r" % (key, value, self.seen))

    def close(self):
        self.sock.close()


def start(tmp, notify, watchdog_usec=None, watchdog_pid=None):
    env = dict(os.environ, NOTIFY_SOCKET=notify.env)
    if watchdog_usec is not None:
        env["WATCHDOG_USEC"] = str(watchdog_usec)
    if watchdog_pid is not None:
        env["WATCHDOG_PID"] = str(watchdog_pid)
    d = Daemon(tmp=tmp, wait=None)
    d.logf = open(d.log, "ab")
    d.log_mark = d.logf.tell()
    d.proc = subprocess.Popen([FIREHOSED, "-c", d.conf], env=env,
                              stdout=d.logf, stderr=subprocess.STDOUT)
    return d


def connects(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.close()
    return True


def lifecycle(abstract):
    tmp = tempfile.mkdtemp(prefix="fh-sd-")
    n = Notify(tmp, abstract)
    try:
        with start(tmp, n) as d:
            ready = n.wait_for("READY")
            # READY comes after the bind: the port accepts right away.
            check(connects(d.port), "READY before the listener was bound")
            check(ready.get("STATUS") == "serving", repr(ready))
            d.send(signal.SIGHUP)
            rel = n.wait_for("RELOADING")
            check(rel.get("MONOTONIC_USEC", "").isdigit(), repr(rel))
            mono = int(rel["MONOTONIC_USEC"])
            now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
            check(0 < mono <= now, "MONOTONIC_USEC %d not CLOCK_MONOTONIC "
                  "(now %d)" % (mono, now))
            again = n.wait_for("READY")
            check("reloaded" in again.get("STATUS", ""), repr(again))
            check(connects(d.port), "not serving after the reload")
            d.send(signal.SIGTERM)
            n.wait_for("STOPPING")
            check(d.proc.wait(10) == 0, "exit status %r" % d.proc.returncode)
    finally:
        n.close()


def test_path_socket_ready_reload_stop():
    lifecycle(abstract=False)


def test_abstract_socket_ready_reload_stop():
    lifecycle(abstract=True)


def test_failed_reload_is_ready_again():
    tmp = tempfile.mkdtemp(prefix="fh-sd-")
    n = Notify(tmp)
    try:
        with start(tmp, n) as d:
            n.wait_for("READY")
            with open(d.conf, "a") as f:
                f.write("[gateway]\nlog_level = loud\n")
            d.send(signal.SIGHUP)
            n.wait_for("RELOADING")
            msg = n.wait_for("READY")
            check("reload failed" in msg.get("STATUS", ""), repr(msg))
            check(connects(d.port), "not serving after a failed reload")
    finally:
        n.close()


def test_watchdog_pings_from_the_loop():
    tmp = tempfile.mkdtemp(prefix="fh-sd-")
    n = Notify(tmp)
    try:
        # 200 ms: a ping every 100 ms. Count three after READY.
        with start(tmp, n, watchdog_usec=200000) as d:
            n.wait_for("READY")
            for _ in range(3):
                n.wait_for("WATCHDOG")
            # A stopped loop sends nothing: the point of pinging from it.
            d.send(signal.SIGSTOP)
            while True:	# drain what was queued before the stop
                try:
                    n.next(timeout=0.5)
                except AssertionError:
                    break
            d.send(signal.SIGCONT)
            n.wait_for("WATCHDOG")
            d.wait_log("watchdog every 100 ms")
    finally:
        n.close()


def test_watchdog_for_another_pid_is_ignored():
    tmp = tempfile.mkdtemp(prefix="fh-sd-")
    n = Notify(tmp)
    try:
        with start(tmp, n, watchdog_usec=200000, watchdog_pid=1) as d:
            n.wait_for("READY")
            d.send(signal.SIGHUP)
            n.wait_for("RELOADING")
            n.wait_for("READY")
            d.send(signal.SIGTERM)
            n.wait_for("STOPPING")
            d.proc.wait(10)
            check(not any("WATCHDOG" in m for m in n.seen),
                  "pinged for WATCHDOG_PID=1: %r" % n.seen)
    finally:
        n.close()


def test_no_notify_socket_runs_as_before():
    with Daemon() as d:
        check(connects(d.port), "not serving")


def test_unit_file_verifies():
    if shutil.which("systemd-analyze") is None:
        skip_case("systemd-analyze not installed")
    unit = os.path.join(os.environ.get("top_builddir", "."),
                        "etc", "firehosed.service")
    if not os.path.exists(unit):
        unit = os.path.join(SRCDIR, "etc", "firehosed.service")
    tmp = tempfile.mkdtemp(prefix="fh-unit-")
    try:
        # The unit as installed, but pointing at the binary under test
        # (verify checks that ExecStart is executable).
        with open(unit) as f:
            text = f.read()
        lines = []
        for line in text.splitlines():
            for key in ("ExecStart=", "ExecStartPre="):
                if line.startswith(key):
                    args = line[len(key):].split()
                    args[0] = os.path.abspath(FIREHOSED)
                    line = key + " ".join(args)
            lines.append(line)
        path = os.path.join(tmp, "firehosed.service")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        # Documentation= names man pages: look them up in the build (man
        # then checks that they were generated), else do not check them.
        mandir = os.path.join(os.environ.get("top_builddir", "."), "man")
        env = dict(os.environ)
        args = ["systemd-analyze", "verify"]
        if os.path.exists(os.path.join(mandir, "man8", "firehosed.8")):
            env["MANPATH"] = os.path.abspath(mandir)
        else:
            args.append("--man=no")
        r = subprocess.run(args + [path], capture_output=True, text=True,
                           timeout=60, env=env)
        out = r.stdout + r.stderr
        # Complaints about the host (no running systemd in a container,
        # other units) are not ours; anything naming our unit is.
        ours = [l for l in out.splitlines() if "firehosed.service" in l]
        check(r.returncode == 0 or not ours, out)
        check(not ours, "\n".join(ours))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


fhtest.run_cases(globals())
