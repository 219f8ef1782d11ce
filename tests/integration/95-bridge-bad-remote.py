#!/usr/bin/python3
"""Bad remotes: a closed port, one that refuses our credentials (a real
Mosquitto), one with a certificate from another CA, one that speaks
garbage, one that accepts and stalls. Each failure is logged once (not
once per try), is retried with backoff, and never affects the daemon's
local clients."""
import os
import signal
import socket
import tempfile
import threading
import time

from bridgetest import Mosquitto, Sub, bridge_metric, conf, need_mosquitto, \
    pub, wait_connected
from fhtest import Daemon, check, free_port, run, run_cases
from transport import make_pki

need_mosquitto()

WATCH = 3.0	# seconds of retries observed


class FakeRemote(threading.Thread):
    """A TCP server on loopback that answers every connection with
    reply (bytes) or, with reply None, holds it open and says nothing."""

    def __init__(self, reply):
        super().__init__(daemon=True)
        self.reply = reply
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(16)
        self.s.settimeout(0.2)
        self.port = self.s.getsockname()[1]
        self.accepted = 0
        self.halt = threading.Event()
        self.conns = []

    def run(self):
        deadline = time.time() + 60
        while not self.halt.is_set() and time.time() < deadline:
            try:
                c, _ = self.s.accept()
            except socket.timeout:
                continue
            self.accepted += 1
            self.conns.append(c)
            if self.reply is not None:
                try:
                    c.recv(4096)
                    c.sendall(self.reply)
                except OSError:
                    pass

    def close(self):
        self.halt.set()
        self.join(5)
        for c in self.conns:
            c.close()
        self.s.close()


def watch(address, extra="", want_log=None):
    """Run a daemon bridged to address for WATCH seconds; check that the
    failure was logged once, retried with backoff, and that local
    publish/subscribe kept working meanwhile."""
    d = Daemon(conf("[bridge up]\naddress = %s\n"
                    "restart_timeout = 100ms 400ms\n"
                    "connect_timeout = 500ms\n"
                    "topic = \"#\" both 1\n" % address + extra),
               ports={"web": free_port()})
    with d:
        local = Sub(d.port, "local/#")
        t0 = time.time()
        i = 0
        while time.time() - t0 < WATCH:
            pub(d.port, "local/x", str(i), qos=1)
            check(local.get(5)[:2] == ("local/x", str(i)),
                  "local delivery %d" % i)
            i += 1
            time.sleep(0.1)
        local.close()
        fails = bridge_metric(d, "connect_failures", "up")
        check(bridge_metric(d, "connected", "up") == 0, "not connected")
        # backoff: 100ms doubling to 400ms, plus the 500ms timeout of a
        # stalled remote, allow some 3..40 tries in WATCH seconds
        check(3 <= fails <= 40, "%s tries in %ss" % (fails, WATCH))
        log = d.logtext()
        n = log.count("bridge up: cannot connect to")
        check(n == 1, "failure logged %d times:\n%s" % (n, log))
        if want_log is not None:
            check(want_log in log, "want %r in:\n%s" % (want_log, log))
        return log


def test_refuses_credentials():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    pw = os.path.join(tmp, "mosquitto.pw")
    r = run(["mosquitto_passwd", "-b", "-c", pw, "fhbridge", "right"])
    check(r.returncode == 0, "mosquitto_passwd: " + r.stderr)
    secret = os.path.join(tmp, "wrong.secret")
    with open(secret, "w") as f:
        f.write("wrong\n")
    with Mosquitto(tmp, "allow_anonymous false\npassword_file %s\n" %
                   pw) as m:
        watch("127.0.0.1:%d" % m.port, "username = fhbridge\n"
              "password_file = %s\n" % secret,
              "refused by the remote: not authorized (code 5)")


def test_sighup_reads_the_password_again():
    """After a refusal, the right password in the file and a SIGHUP: the
    next try gets in, and local clients never noticed."""
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    pw = os.path.join(tmp, "mosquitto.pw")
    r = run(["mosquitto_passwd", "-b", "-c", pw, "fhbridge", "right"])
    check(r.returncode == 0, "mosquitto_passwd: " + r.stderr)
    secret = os.path.join(tmp, "bridge.secret")
    with open(secret, "w") as f:
        f.write("wrong\n")
    with Mosquitto(tmp, "allow_anonymous false\npassword_file %s\n" %
                   pw) as m:
        d = Daemon(conf("[bridge up]\naddress = 127.0.0.1:%d\n"
                        "restart_timeout = 100ms 400ms\n"
                        "username = fhbridge\npassword_file = %s\n"
                        "topic = up/# out 1\n" % (m.port, secret)),
                   ports={"web": free_port()})
        with d:
            local = Sub(d.port, "up/#")
            deadline = time.time() + 10
            while (bridge_metric(d, "refused", "up") or 0) < 1:
                check(time.time() < deadline, "never refused")
                time.sleep(0.05)
            with open(secret, "w") as f:
                f.write("right\n")
            d.send(signal.SIGHUP)
            wait_connected(d)
            remote = Sub(m.port, "up/#", username="fhbridge",
                         password="right")
            pub(d.port, "up/x", "after the reload", qos=1)
            check(remote.get()[:2] == ("up/x", "after the reload"),
                  "bridged after SIGHUP")
            check(local.get()[:2] == ("up/x", "after the reload"),
                  "local delivery")
            remote.close()
            local.close()


def test_refuses_credentials_mqtt5():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    pw = os.path.join(tmp, "mosquitto.pw")
    r = run(["mosquitto_passwd", "-b", "-c", pw, "fhbridge", "right"])
    check(r.returncode == 0, "mosquitto_passwd: " + r.stderr)
    secret = os.path.join(tmp, "wrong.secret")
    with open(secret, "w") as f:
        f.write("wrong\n")
    with Mosquitto(tmp, "allow_anonymous false\npassword_file %s\n" %
                   pw) as m:
        watch("127.0.0.1:%d" % m.port, "mqtt_version = 5\n"
              "username = fhbridge\npassword_file = %s\n" % secret,
              "refused by the remote: not authorized (code 135)")


def test_certificate_of_another_ca():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    ours = make_pki(tmp)
    theirs = make_pki(tmp, prefix="-other")
    tls = free_port()
    with Mosquitto(tmp, "listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\n"
                   % (tls, theirs["cert"], theirs["key"])):
        watch("127.0.0.1:%d" % tls, "protocol = mqtts\nca_file = %s\n" %
              ours["ca"], "certificate verify failed")


def test_closed_port():
    """Nothing listens: the line names the remote once and gives the
    error once, without the "connect: " fh_connect used to put in front
    (it read "cannot connect to ...: connect: Connection refused")."""
    port = free_port()
    log = watch("127.0.0.1:%d" % port, "",
                "bridge up: cannot connect to mqtt://127.0.0.1:%d: "
                "Connection refused; retrying" % port)
    check("connect: Connection refused" not in log,
          "doubled prefix in:\n%s" % log)


def test_speaks_garbage():
    fake = FakeRemote(b"HTTP/1.1 400 Bad Request\r\n\r\n" + b"\xff" * 64)
    fake.start()
    try:
        watch("127.0.0.1:%d" % fake.port, "", "bad packet from the remote")
        check(fake.accepted >= 3, "accepted %d" % fake.accepted)
    finally:
        fake.close()


def test_accepts_and_stalls():
    fake = FakeRemote(None)
    fake.start()
    try:
        watch("127.0.0.1:%d" % fake.port, "", "no CONNACK within 500 ms")
        check(fake.accepted >= 3, "accepted %d" % fake.accepted)
    finally:
        fake.close()


run_cases(globals())
