"""Helpers for bridge tests: a real Mosquitto (Debian's /usr/sbin/mosquitto)
started with its own config on a free loopback port, a firehosed config
with a [bridge] to it, and a paho subscriber that keeps what it gets."""
import os
import queue
import shutil
import signal
import subprocess
import time

import paho.mqtt.client as mqtt

from fhtest import check, free_port, skip, wait_port
from transport import http_get, metric

MOSQUITTO = "/usr/sbin/mosquitto"


def need_mosquitto():
    if not os.access(MOSQUITTO, os.X_OK):
        skip("mosquitto not installed")
    for t in ("mosquitto_sub", "mosquitto_pub", "mosquitto_passwd"):
        if shutil.which(t) is None:
            skip(t + " not installed")


class Mosquitto:
    """A private Mosquitto on 127.0.0.1; extra is appended to its config
    (after the listener line, so listener options go there)."""

    def __init__(self, tmp, extra="", port=None, name="mosquitto",
                 start=True):
        self.tmp = tmp
        self.port = port or free_port()
        self.name = name
        self.conf = os.path.join(tmp, name + ".conf")
        self.log = os.path.join(tmp, name + ".log")
        with open(self.conf, "w") as f:
            # as root, mosquitto drops to its own user, which cannot
            # read the test's private files: stay who we are
            f.write(("user root\n" if os.geteuid() == 0 else "") +
                    "per_listener_settings false\n"
                    "log_dest stderr\n"
                    "log_type error\nlog_type warning\nlog_type notice\n"
                    "log_type information\n"
                    "allow_anonymous true\n"
                    "listener %d 127.0.0.1\n" % self.port + extra)
        self.proc = None
        if start:
            self.start()

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf],
                                     stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        try:
            wait_port(self.port, proc=self.proc)
        except RuntimeError:
            print(self.logtext())
            raise
        return self

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        self.logf.close()
        return rc

    def logtext(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        rc = self.stop()
        if exc[0] is not None:	# the end of it: a debug log is long
            tail = self.logtext().splitlines()[-200:]
            print("--- %s log (end) ---\n%s" % (self.name, "\n".join(tail)))
        elif rc not in (0, None):
            print(self.logtext())
            raise AssertionError("mosquitto exited with %r" % rc)
        return False


def conf(bridge, port="{port}", extra_broker="", ws=True):
    """A firehosed config: broker open for publishing (the tests publish
    anonymously), an mqtt listener, a ws listener for /metrics, and the
    given [bridge ...] text."""
    text = ("[broker]\nanonymous_publish = true\nsys_interval = 0\n" +
            extra_broker +
            "[listener mqtt]\nbind = 127.0.0.1:%s\n" % port)
    if ws:
        text += "[listener web]\nprotocol = ws\nbind = 127.0.0.1:{web}\n"
    return text + bridge


class Sub:
    """A paho client that subscribes and keeps every message."""

    def __init__(self, port, topics, qos=1, client_id="", clean=True,
                 username=None, password=None):
        self.msgs = queue.Queue()
        self.c = mqtt.Client(client_id=client_id, clean_session=clean)
        if username is not None:
            self.c.username_pw_set(username, password)
        connacks = queue.Queue()
        subacks = queue.Queue()
        self.c.on_connect = lambda c, u, f, rc: connacks.put(rc)
        self.c.on_message = lambda c, u, m: self.msgs.put(
            (m.topic, m.payload.decode(errors="replace"), m.qos, m.retain))
        self.c.on_subscribe = lambda c, u, mid, g: subacks.put(g)
        self.c.connect("127.0.0.1", port, 60)
        self.c.loop_start()
        rc = connacks.get(timeout=10)
        check(rc == 0, "subscriber CONNACK %d" % rc)
        if isinstance(topics, str):
            topics = [topics]
        for t in topics:
            self.c.subscribe(t, qos)
            subacks.get(timeout=10)

    def get(self, timeout=10):
        try:
            return self.msgs.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message within %ss" % timeout)

    def take(self, n, timeout=20, what="messages"):
        out = []
        deadline = time.time() + timeout
        while len(out) < n:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("got %d of %d %s" % (len(out), n,
                                                          what))
            try:
                out.append(self.msgs.get(timeout=left))
            except queue.Empty:
                pass
        return out

    def none(self, wait=1.0):
        """Nothing more arrives within wait seconds."""
        try:
            m = self.msgs.get(timeout=wait)
        except queue.Empty:
            return
        raise AssertionError("unexpected message %r" % (m,))

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def pub(port, topic, payload, qos=0, retain=False, username=None,
        password=None):
    """Publish with paho and wait until the broker has it."""
    c = mqtt.Client()
    if username is not None:
        c.username_pw_set(username, password)
    c.connect("127.0.0.1", port, 60)
    c.loop_start()
    info = c.publish(topic, payload, qos, retain)
    info.wait_for_publish()
    c.disconnect()
    c.loop_stop()


def bridge_metric(daemon, name, bridge):
    st, head, body = http_get(daemon.ports["web"], "/metrics")
    check(st == 200, "/metrics status %s" % st)
    return metric(body.decode() if isinstance(body, bytes) else body,
                  "firehose_bridge_link_" + name, bridge=bridge)


def wait_connected(daemon, bridge="up", timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if bridge_metric(daemon, "connected", bridge) == 1:
            return
        time.sleep(0.05)
    raise AssertionError("bridge %s not connected after %ss:\n%s" % (
        bridge, timeout, daemon.logtext()))
