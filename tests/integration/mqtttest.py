"""Broker test helpers: paho clients and mosquitto_sub that wait for their
CONNACK/SUBACK instead of sleeping."""
import queue
import socket
import subprocess
import threading
import time

import paho.mqtt.client as mqtt

from fhtest import check

V31 = mqtt.MQTTv31
V311 = mqtt.MQTTv311


class Client:
    """A paho client on its own network thread. Messages land in a queue."""

    def __init__(self, port, client_id="", clean=True, user=None,
                 password=None, protocol=V311, will=None, keepalive=60,
                 expect_rc=0):
        self.c = mqtt.Client(client_id=client_id, clean_session=clean,
                             protocol=protocol)
        self.msgs = queue.Queue()
        self.connacks = queue.Queue()
        self.subacks = {}
        self.cond = threading.Condition()
        self.gone = threading.Event()
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.msgs.put(m)
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        self.c.on_disconnect = lambda c, u, rc: self.gone.set()
        if will is not None:
            self.c.will_set(*will)
        if user is not None:
            self.c.username_pw_set(user, password)
        self.c.connect("127.0.0.1", port, keepalive)
        self.c.loop_start()
        try:
            self.flags, self.rc = self.connacks.get(timeout=10)
        except queue.Empty:
            self.c.loop_stop()
            raise AssertionError("no CONNACK for %r" % client_id)
        check(self.rc == expect_rc, "%r: CONNACK rc %d, want %d" % (
            client_id, self.rc, expect_rc))
        if self.rc != 0:
            self.c.loop_stop()

    def _on_connect(self, c, u, flags, rc):
        self.connacks.put((flags, rc))

    def _on_subscribe(self, c, u, mid, granted):
        with self.cond:
            self.subacks[mid] = granted
            self.cond.notify_all()

    def _on_unsubscribe(self, c, u, mid):
        with self.cond:
            self.subacks[mid] = True
            self.cond.notify_all()

    def _wait_mid(self, mid):
        with self.cond:
            ok = self.cond.wait_for(lambda: mid in self.subacks, 10)
        check(ok, "no SUBACK/UNSUBACK for mid %d" % mid)
        return self.subacks.pop(mid)

    def sub(self, topic, qos=0):
        rc, mid = self.c.subscribe(topic, qos)
        check(rc == 0, "subscribe failed")
        return self._wait_mid(mid)

    def unsub(self, topic):
        rc, mid = self.c.unsubscribe(topic)
        check(rc == 0, "unsubscribe failed")
        self._wait_mid(mid)

    def pub(self, topic, payload, qos=0, retain=False):
        info = self.c.publish(topic, payload, qos, retain)
        info.wait_for_publish()
        return info

    def get(self, timeout=10):
        try:
            return self.msgs.get(timeout=timeout)
        except queue.Empty:
            return None

    def expect(self, topic, payload, timeout=10, retain=None, qos=None):
        m = self.get(timeout)
        check(m is not None, "no message, want %s %r" % (topic, payload))
        if isinstance(payload, str):
            payload = payload.encode()
        check((m.topic, m.payload) == (topic, payload),
              "got %s %r, want %s %r" % (m.topic, m.payload, topic, payload))
        if retain is not None:
            check(bool(m.retain) == retain, "%s: retain %r" % (topic,
                                                                m.retain))
        if qos is not None:
            check(m.qos == qos, "%s: qos %d, want %d" % (topic, m.qos, qos))
        return m

    def nothing(self, timeout=0.5):
        m = self.get(timeout)
        check(m is None, "unexpected message %s %r" % (
            m and m.topic, m and m.payload))

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()

    def drop(self):
        """Vanish without DISCONNECT (the will goes out)."""
        self.c.loop_stop()
        s = self.c.socket()
        if s is not None:
            s.shutdown(socket.SHUT_RDWR)
            s.close()


class Sub:
    """mosquitto_sub -d: waits for its SUBACK, then collects messages."""

    def __init__(self, port, topic, extra=(), qos=0):
        self.p = subprocess.Popen(
            ["stdbuf", "-oL", "mosquitto_sub", "-d", "-v", "-h", "127.0.0.1", "-p",
             str(port), "-t", topic, "-q", str(qos)] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = queue.Queue()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        deadline = time.time() + 10
        while True:
            line = self._line(deadline)
            check(line is not None, "mosquitto_sub: no SUBACK")
            if "received SUBACK" in line:
                break

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _line(self, deadline):
        try:
            return self.lines.get(timeout=max(0.01, deadline - time.time()))
        except queue.Empty:
            return None

    def messages(self, n, timeout=10):
        out = []
        deadline = time.time() + timeout
        while len(out) < n:
            line = self._line(deadline)
            if line is None:
                break
            if line.startswith("Client ") or line.startswith("Subscribed"):
                continue
            out.append(line)
        return out

    def close(self):
        self.p.terminate()
        self.p.wait()


def pub(port, topic, msg, *extra):
    r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port),
                        "-t", topic, "-m", msg] + list(extra),
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "mosquitto_pub failed: %s" % r.stderr)
    return r


def raw(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


def raw_closed(s, timeout=10):
    """True when the server closed s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


CONNECT311 = bytes([0x10, 0x0e, 0x00, 0x04]) + b"MQTT" + bytes(
    [0x04, 0x02, 0x00, 0x3c, 0x00, 0x02]) + b"rw"
