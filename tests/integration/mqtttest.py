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
# "Nothing more arrives" is checked against a sentinel, never a sleep:
# topics nobody subscribes to.
PLUMBING = "fhtest/"
SENTINEL = PLUMBING + "sentinel/"
SYNC = PLUMBING + "sync"


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
        self.c.on_message = self._on_message
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

    def _on_message(self, c, u, m):
        if not m.topic.startswith(PLUMBING):   # a "#" reader sees syncs
            self.msgs.put(m)

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

    def sync(self, qos=1):
        """Return once the broker has handled every packet this client
        sent before: a QoS 1 PUBLISH to a topic nobody reads, and its
        PUBACK (the broker handles one connection's packets in order)."""
        self.pub(SYNC, "sync", qos=qos)

    def nothing(self, via=None):
        """Check that no message arrives, against a sentinel instead of a
        sleep: via (the client whose earlier messages must not arrive
        here) syncs first, then two UNSUBSCRIBE round trips on this
        connection. The broker answers one connection's packets in order
        and paho hands over messages in the order they come, so whatever
        was routed here before arrives before the first UNSUBACK, and a
        QoS 2 message (handed over on its PUBREL) before the second. A
        number (the old timeout) is ignored."""
        if isinstance(via, Client):
            via.sync()
        for _ in range(2):
            self.unsub(SENTINEL + "none")
        try:
            m = self.msgs.get_nowait()
        except queue.Empty:
            return
        check(False, "unexpected message %s %r" % (m.topic, m.payload))

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
             str(port), "-t", topic, "-q", str(qos), "-W", "120"] +
            list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = queue.Queue()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        deadline = time.time() + 10
        while True:
            line = self._line(deadline)
            if line is None:
                self.close()
                raise AssertionError("mosquitto_sub: no SUBACK")
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
        # mosquitto_sub 2.0.11's SIGTERM handler can deadlock on its own
        # lock (seen: stuck in a futex wait for good): give it 5 s, then
        # SIGKILL, so a test never hangs on its helper
        self.p.terminate()
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()
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


# ---- raw MQTT, for what stock clients will not send ----------------------

def _str(s):
    b = s.encode() if isinstance(s, str) else s
    return len(b).to_bytes(2, "big") + b


def varint(n):
    out = b""
    while True:
        d = n & 0x7f
        n >>= 7
        if n:
            d |= 0x80
        out += bytes([d])
        if not n:
            return out


def packet(first, body=b""):
    return bytes([first]) + varint(len(body)) + body


def connect_pkt(cid, clean=True, keepalive=60, will=None, user=None,
                pw=None, proto="MQTT", level=4):
    flags = 0x02 if clean else 0
    payload = _str(cid)
    if will is not None:
        topic, msg, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _str(topic) + _str(msg)
    if user is not None:
        flags |= 0x80
        payload += _str(user)
    if pw is not None:
        flags |= 0x40
        payload += _str(pw)
    return packet(0x10, _str(proto) + bytes([level, flags]) +
                  keepalive.to_bytes(2, "big") + payload)


def subscribe_pkt(mid, filters):
    body = mid.to_bytes(2, "big")
    for f, q in filters:
        body += _str(f) + bytes([q])
    return packet(0x82, body)


def publish_pkt(topic, payload, qos=0, mid=0, retain=False, dup=False):
    if isinstance(payload, str):
        payload = payload.encode()
    first = 0x30 | (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    body = _str(topic) + (mid.to_bytes(2, "big") if qos else b"") + payload
    return packet(first, body)


def ack_pkt(kind, mid):
    first = {"puback": 0x40, "pubrec": 0x50, "pubrel": 0x62,
             "pubcomp": 0x70}[kind]
    return packet(first, mid.to_bytes(2, "big"))


class Raw:
    """A hand-driven MQTT connection."""

    def __init__(self, port, connect=None, src=None):
        """src: a loopback source address (the default: the kernel's)."""
        self.s = socket.create_connection(
            ("127.0.0.1", port), timeout=10,
            source_address=(src, 0) if src else None)
        self.buf = b""
        if connect is not None:
            self.send(connect)
            p = self.read()
            check(p is not None and p[0] == 2, "no CONNACK: %r" % (p,))
            self.connack = p[2]

    def send(self, data):
        self.s.sendall(data)

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            self.s.settimeout(max(0.01, deadline - time.time()))
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                d = b""
            if not d:
                raise EOFError
            self.buf += d
        return True

    def read(self, timeout=10):
        """(type, flags, body); None on timeout; EOFError when closed."""
        deadline = time.time() + timeout
        if not self._fill(2, deadline):
            return None
        n, mult, i = 0, 1, 1
        while True:
            if not self._fill(i + 1, deadline):
                return None
            b = self.buf[i]
            n += (b & 0x7f) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
        if not self._fill(i + n, deadline):
            return None
        first, body = self.buf[0], self.buf[i:i + n]
        self.buf = self.buf[i + n:]
        return first >> 4, first & 15, body

    def read_publish(self, timeout=10):
        """(topic, payload, qos, mid, retain, dup) of the next packet."""
        p = self.read(timeout)
        if p is None:
            return None
        check(p[0] == 3, "want PUBLISH, got type %d" % p[0])
        flags, body = p[1], p[2]
        tl = int.from_bytes(body[:2], "big")
        topic = body[2:2 + tl].decode()
        qos = (flags >> 1) & 3
        off = 2 + tl
        mid = 0
        if qos:
            mid = int.from_bytes(body[off:off + 2], "big")
            off += 2
        return topic, body[off:], qos, mid, bool(flags & 1), bool(flags & 8)

    def nothing(self, via=None):
        """Check that no packet arrives before the answer to a PINGREQ,
        instead of sleeping: the broker answers one connection's packets
        in order, so what it sent for the packets before (or routed here
        before it read the PINGREQ) comes first. via: a Client whose
        earlier messages must be routed first (its sync())."""
        if via is not None:
            via.sync()
        self.send(packet(0xc0))
        p = self.read(10)
        check(p is not None, "no PINGRESP")
        check(p[0] == 13, "unexpected packet type %d before PINGRESP: %r"
              % (p[0], p[2][:80]))

    def closed(self, timeout=10):
        """True when the server closes the connection within timeout."""
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                if self.read(max(0.01, deadline - time.time())) is None:
                    return False
        except EOFError:
            return True
        return False

    def close(self):
        self.s.close()


# ---- raw MQTT 5.0 (codec5): properties, reason codes -------------------
# Property identifiers and their types (OASIS MQTT 5.0, 2.2.2.2).
P_PAYLOAD_FORMAT = 0x01
P_MESSAGE_EXPIRY = 0x02
P_CONTENT_TYPE = 0x03
P_RESPONSE_TOPIC = 0x08
P_CORRELATION_DATA = 0x09
P_SUBSCRIPTION_ID = 0x0B
P_SESSION_EXPIRY = 0x11
P_ASSIGNED_CLIENT_ID = 0x12
P_SERVER_KEEPALIVE = 0x13
P_AUTH_METHOD = 0x15
P_REASON_STRING = 0x1F
P_RECEIVE_MAXIMUM = 0x21
P_TOPIC_ALIAS_MAXIMUM = 0x22
P_TOPIC_ALIAS = 0x23
P_USER = 0x26
P_MAXIMUM_PACKET_SIZE = 0x27

_PTYPE = {0x01: "u8", 0x02: "u32", 0x03: "str", 0x08: "str", 0x09: "bin",
          0x0B: "var", 0x11: "u32", 0x12: "str", 0x13: "u16", 0x15: "str",
          0x16: "bin", 0x17: "u8", 0x18: "u32", 0x19: "u8", 0x1A: "str",
          0x1C: "str", 0x1F: "str", 0x21: "u16", 0x22: "u16", 0x23: "u16",
          0x24: "u8", 0x25: "u8", 0x26: "pair", 0x27: "u32", 0x28: "u8",
          0x29: "u8", 0x2A: "u8"}


def prop(pid, value):
    """One property: prop(P_TOPIC_ALIAS, 3), prop(P_USER, ("k", "v"))."""
    t = _PTYPE[pid]
    head = bytes([pid])
    if t == "u8":
        return head + bytes([value])
    if t == "u16":
        return head + value.to_bytes(2, "big")
    if t == "u32":
        return head + value.to_bytes(4, "big")
    if t == "var":
        return head + varint(value)
    if t == "pair":
        return head + _str(value[0]) + _str(value[1])
    return head + _str(value)


def props5(*ps):
    """A property length and the properties (bytes from prop())."""
    body = b"".join(ps)
    return varint(len(body)) + body


def connect5_pkt(cid, clean=True, keepalive=60, props=b"", will=None,
                 will_props=b"", user=None, pw=None):
    """A 5.0 CONNECT; props: the raw property bytes (without length)."""
    flags = 0x02 if clean else 0
    payload = _str(cid)
    if will is not None:
        topic, msg, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += props5(will_props) + _str(topic) + _str(msg)
    if user is not None:
        flags |= 0x80
        payload += _str(user)
    if pw is not None:
        flags |= 0x40
        payload += _str(pw)
    return packet(0x10, _str("MQTT") + bytes([5, flags]) +
                  keepalive.to_bytes(2, "big") + props5(props) + payload)


def publish5_pkt(topic, payload, qos=0, mid=0, retain=False, dup=False,
                 props=b""):
    if isinstance(payload, str):
        payload = payload.encode()
    first = 0x30 | (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    body = _str(topic) + (mid.to_bytes(2, "big") if qos else b"")
    return packet(first, body + props5(props) + payload)


def subscribe5_pkt(mid, filters, props=b""):
    """filters: (filter, options byte) pairs; options = QoS | 4 No Local |
    8 Retain As Published | Retain Handling << 4."""
    body = mid.to_bytes(2, "big") + props5(props)
    for f, o in filters:
        body += _str(f) + bytes([o])
    return packet(0x82, body)


def unsubscribe5_pkt(mid, filters, props=b""):
    body = mid.to_bytes(2, "big") + props5(props)
    for f in filters:
        body += _str(f)
    return packet(0xA2, body)


def ack5_pkt(kind, mid, reason=0, props=b""):
    first = {"puback": 0x40, "pubrec": 0x50, "pubrel": 0x62,
             "pubcomp": 0x70}[kind]
    return packet(first, mid.to_bytes(2, "big") + bytes([reason]) +
                  props5(props))


def disconnect5_pkt(reason=0, props=b""):
    return packet(0xE0, bytes([reason]) + props5(props))


def parse_props(b, off=0):
    """(list of (id, value) in order, offset past them) from the property
    length at b[off]."""
    n, mult = 0, 1
    while True:
        c = b[off]
        off += 1
        n += (c & 0x7F) * mult
        mult *= 128
        if not c & 0x80:
            break
    end = off + n
    out = []
    while off < end:
        pid = b[off]
        off += 1
        t = _PTYPE[pid]
        if t == "u8":
            v, off = b[off], off + 1
        elif t == "u16":
            v, off = int.from_bytes(b[off:off + 2], "big"), off + 2
        elif t == "u32":
            v, off = int.from_bytes(b[off:off + 4], "big"), off + 4
        elif t == "var":
            v, mult = 0, 1
            while True:
                c = b[off]
                off += 1
                v += (c & 0x7F) * mult
                mult *= 128
                if not c & 0x80:
                    break
        else:
            ln = int.from_bytes(b[off:off + 2], "big")
            v = b[off + 2:off + 2 + ln]
            off += 2 + ln
            if t == "pair":
                ln = int.from_bytes(b[off:off + 2], "big")
                v = (v.decode(), b[off + 2:off + 2 + ln].decode())
                off += 2 + ln
            elif t == "str":
                v = v.decode()
        out.append((pid, v))
    return out, end


def prop_get(props, pid, default=None):
    """The first value of pid in a parse_props() list."""
    for k, v in props:
        if k == pid:
            return v
    return default


def parse_publish5(p):
    """A 5.0 PUBLISH from Raw.read(): a dict of its fields and props."""
    check(p is not None and p[0] == 3, "want PUBLISH, got %r" % (p,))
    flags, body = p[1], p[2]
    tl = int.from_bytes(body[:2], "big")
    d = {"topic": body[2:2 + tl].decode(), "qos": (flags >> 1) & 3,
         "retain": bool(flags & 1), "dup": bool(flags & 8), "mid": 0}
    off = 2 + tl
    if d["qos"]:
        d["mid"] = int.from_bytes(body[off:off + 2], "big")
        off += 2
    d["props"], off = parse_props(body, off)
    d["payload"] = body[off:]
    return d


def parse_ack5(p):
    """(type, packet id, reason, props) of a PUBACK..PUBCOMP."""
    check(p is not None, "no ack")
    body = p[2]
    mid = int.from_bytes(body[:2], "big")
    reason = body[2] if len(body) > 2 else 0
    props = parse_props(body, 3)[0] if len(body) > 3 else []
    return p[0], mid, reason, props


def parse_suback5(p):
    """(type, packet id, props, reason codes) of a SUBACK/UNSUBACK."""
    check(p is not None and p[0] in (9, 11), "want SUBACK, got %r" % (p,))
    body = p[2]
    props, off = parse_props(body, 2)
    return p[0], int.from_bytes(body[:2], "big"), props, list(body[off:])


def parse_reason5(p):
    """(type, reason, props) of a CONNACK (reason second byte),
    DISCONNECT or AUTH."""
    check(p is not None, "no packet")
    body = p[2]
    if p[0] == 2:
        return p[0], body[1], parse_props(body, 2)[0]
    reason = body[0] if body else 0
    props = parse_props(body, 1)[0] if len(body) > 1 else []
    return p[0], reason, props


class Raw5(Raw):
    """A hand-driven 5.0 connection: CONNECT sent, CONNACK checked."""

    def __init__(self, port, cid="raw5", props=b"", expect=0, **kw):
        Raw.__init__(self, port)
        self.send(connect5_pkt(cid, props=props, **kw))
        p = self.read()
        check(p is not None and p[0] == 2, "no CONNACK: %r" % (p,))
        _, self.reason, self.connack_props = parse_reason5(p)
        check(self.reason == expect, "%s: CONNACK reason 0x%02x, want "
              "0x%02x" % (cid, self.reason, expect))

    def subscribe(self, mid, filters, props=b""):
        """SUBSCRIBE and its SUBACK's reason codes."""
        self.send(subscribe5_pkt(mid, filters, props))
        t, got, _, codes = parse_suback5(self.read())
        check(t == 9 and got == mid, "SUBACK for %d, want %d" % (got, mid))
        return codes

    def disconnected(self, timeout=10):
        """The reason of the server's DISCONNECT, then EOF; None when the
        connection closed without one."""
        try:
            p = self.read(timeout)
        except EOFError:
            return None
        check(p is not None, "neither DISCONNECT nor close")
        check(p[0] == 14, "want DISCONNECT, got type %d" % p[0])
        check(self.closed(timeout), "DISCONNECT but not closed")
        return parse_reason5(p)[1]


# ---- MQTT 5.0 connection side (split): CONNACK flags, sessions ----------
P_WILL_DELAY = 0x18
P_REQUEST_PROBLEM_INFO = 0x17
P_RETAIN_AVAILABLE = 0x25
P_SUBID_AVAILABLE = 0x29
P_SHARED_AVAILABLE = 0x2A


def connect5(port, cid, **kw):
    """A raw 5.0 connection: (Raw, session present, reason, props) of its
    CONNACK. kw as connect5_pkt()."""
    r = Raw(port)
    r.send(connect5_pkt(cid, **kw))
    p = r.read()
    check(p is not None and p[0] == 2, "%s: no CONNACK: %r" % (cid, p))
    _, reason, props = parse_reason5(p)
    return r, bool(p[2][0] & 1), reason, props


def session_present5(port, cid, **kw):
    """Connect, note the CONNACK's session present flag, leave with
    DISCONNECT 0x00 (a session with expiry stays)."""
    r, sp, reason, _ = connect5(port, cid, **kw)
    check(reason == 0, "%s: CONNACK reason 0x%02x" % (cid, reason))
    r.send(disconnect5_pkt())
    check(r.closed(), "%s: not closed after DISCONNECT" % cid)
    return sp


def expiry_props(seconds):
    return prop(P_SESSION_EXPIRY, seconds)
