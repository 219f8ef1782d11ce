"""Helpers for the listener tests: a test PKI made with openssl, a raw
WebSocket client that can misbehave on purpose, tiny MQTT packet builders,
and paho clients over ws/wss/mqtts that wait for conditions."""
import base64
import os
import queue
import select
import socket
import ssl
import struct
import subprocess
import threading
import time

import paho.mqtt.client as mqtt

from fhtest import check


def _openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd,
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (args[0], r.stderr))


def make_pki(tmp, server_cn="localhost", prefix=""):
    """Root CA -> intermediate CA -> server (chain file), and a client
    certificate (CN=publisher) from the root. Returns a dict of paths."""
    d = os.path.join(tmp, "pki" + prefix)
    os.makedirs(d, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
             "-subj", "/CN=fh-test-root" + prefix, "-days", "2",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    with open(os.path.join(d, "ca.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:TRUE\n"
                "keyUsage=critical,keyCertSign,cRLSign\n")
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
                "extendedKeyUsage=serverAuth\n")
    with open(os.path.join(d, "client.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")

    def sign(name, cn, ca, ext):
        _openssl("req", "-new", *ec, "-keyout", name + ".key", "-out",
                 name + ".csr", "-subj", "/CN=" + cn, cwd=d)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
                 "-CAkey", ca + ".key", "-CAcreateserial", "-days", "2",
                 "-out", name + ".pem", "-extfile", ext, cwd=d)

    sign("inter", "fh-test-intermediate" + prefix, "ca", "ca.ext")
    sign("server", server_cn, "inter", "server.ext")
    sign("client", "publisher", "ca", "client.ext")
    with open(os.path.join(d, "server-chain.pem"), "w") as out:
        for n in ("server.pem", "inter.pem"):
            with open(os.path.join(d, n)) as f:
                out.write(f.read())
    p = lambda n: os.path.join(d, n)
    return {"ca": p("ca.pem"), "cert": p("server-chain.pem"),
            "key": p("server.key"), "client_cert": p("client.pem"),
            "client_key": p("client.key"), "dir": d}


# MQTT 3.1.1 packets, enough to drive a broker by hand.
def _rl(n):
    out = b""
    while True:
        b = n % 128
        n //= 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">H", len(b)) + b


def mqtt_connect(client_id, keepalive=60):
    body = _s("MQTT") + bytes([4, 2]) + struct.pack(">H", keepalive) + \
        _s(client_id)
    return bytes([0x10]) + _rl(len(body)) + body


def mqtt_subscribe(topic, mid=1, qos=0):
    body = struct.pack(">H", mid) + _s(topic) + bytes([qos])
    return bytes([0x82]) + _rl(len(body)) + body


def mqtt_publish(topic, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    body = _s(topic) + payload
    return bytes([0x30]) + _rl(len(body)) + body


def mqtt_split(buf):
    """Split a byte stream into complete MQTT packets; (packets, rest)."""
    pkts = []
    while len(buf) >= 2:
        n, mult, i = 0, 1, 1
        while True:
            if i >= len(buf):
                return pkts, buf
            b = buf[i]
            n += (b & 0x7f) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
        if len(buf) < i + n:
            break
        pkts.append(buf[:i + n])
        buf = buf[i + n:]
    return pkts, buf


class RawWS:
    """A hand-driven WebSocket client. Nothing here is lenient: it reads
    exactly what the server sends."""

    def __init__(self, port, path="/mqtt", host="127.0.0.1",
                 protocols="mqtt", headers=(), tls_ca=None, upgrade=True,
                 key="dGhlIHNhbXBsZSBub25jZQ==", version="13"):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_connection((host, port), timeout=10) \
            if fam == socket.AF_INET else socket.socket(fam)
        if fam == socket.AF_INET6:
            self.sock.settimeout(10)
            self.sock.connect((host, port))
        if tls_ca is not None:
            ctx = ssl.create_default_context(cafile=tls_ca)
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.status = None
        self.head = ""
        if not upgrade:
            return
        lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port),
                 "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: " + key,
                 "Sec-WebSocket-Version: " + version]
        if protocols:
            lines.append("Sec-WebSocket-Protocol: " + protocols)
        lines += list(headers)
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.read_head()

    def send_raw(self, b):
        self.sock.sendall(b)

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                break
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.head = head.decode("latin-1")
        parts = self.head.split(" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 else None
        return self.status

    def header(self, name):
        for line in self.head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == name.lower():
                return v.strip()
        return None

    def read_body(self):
        """For plain HTTP answers (Connection: close): the rest."""
        while True:
            d = self.sock.recv(65536)
            if not d:
                return self.buf
            self.buf += d

    @staticmethod
    def frame(op, payload=b"", fin=True, mask=True, rsv=0, length=None):
        n = len(payload) if length is None else length
        b0 = (0x80 if fin else 0) | rsv | op
        m = 0x80 if mask else 0
        if n < 126:
            h = bytes([b0, m | n])
        elif n < 65536:
            h = bytes([b0, m | 126]) + struct.pack(">H", n)
        else:
            h = bytes([b0, m | 127]) + struct.pack(">Q", n)
        if not mask:
            return h + payload
        key = os.urandom(4)
        return h + key + bytes(c ^ key[i % 4] for i, c in
                               enumerate(payload))

    def send(self, op, payload=b"", **kw):
        self.send_raw(self.frame(op, payload, **kw))

    def _fill(self, n, timeout):
        deadline = time.time() + timeout
        while len(self.buf) < n:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no data")
            self.sock.settimeout(left)
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("closed")
            self.buf += d

    def recv_frame(self, timeout=10):
        """(fin, opcode, payload); server frames are never masked."""
        self._fill(2, timeout)
        b0, b1 = self.buf[0], self.buf[1]
        check(not b1 & 0x80, "server frame is masked")
        n, i = b1 & 0x7f, 2
        if n == 126:
            self._fill(4, timeout)
            n, i = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._fill(10, timeout)
            n, i = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._fill(i + n, timeout)
        payload = self.buf[i:i + n]
        self.buf = self.buf[i + n:]
        return bool(b0 & 0x80), b0 & 0x0f, payload

    def recv_close(self, timeout=10):
        """Skip data frames until a close; its status code (or None)."""
        while True:
            fin, op, p = self.recv_frame(timeout)
            if op == 8:
                return struct.unpack(">H", p[:2])[0] if len(p) >= 2 \
                    else None

    def at_eof(self, timeout=10):
        """True when the server closed the TCP connection."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                d = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return False
            except (ConnectionResetError, ssl.SSLError):
                return True
            if not d:
                return True
            self.buf += d
        return False

    # MQTT over this WebSocket.
    def mqtt_packets(self, want, timeout=10):
        """Read frames until `want` MQTT packets arrived; returns them."""
        out, stream = [], b""
        deadline = time.time() + timeout
        while len(out) < want:
            fin, op, p = self.recv_frame(max(0.01, deadline - time.time()))
            check(op in (0, 2), "unexpected opcode %d" % op)
            pkts, stream = mqtt_split(stream + p)
            out += pkts
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Paho:
    """A paho client over mqtt, mqtts, ws or wss, on its own thread."""

    def __init__(self, port, transport="tcp", path="/mqtt", ca=None,
                 cert=None, key=None, host="127.0.0.1", client_id="",
                 expect_rc=0):
        self.c = mqtt.Client(client_id=client_id, transport=transport)
        if transport == "websockets":
            self.c.ws_set_options(path=path)
        if ca is not None:
            self.c.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
        self.msgs = queue.Queue()
        self.connacks = queue.Queue()
        self.subs = queue.Queue()
        self.c.on_connect = lambda c, u, f, rc: self.connacks.put(rc)
        self.c.on_message = lambda c, u, m: self.msgs.put(m)
        self.c.on_subscribe = lambda c, u, mid, g: self.subs.put(g)
        self.c.connect(host, port, 60)
        self.c.loop_start()
        try:
            rc = self.connacks.get(timeout=10)
        except queue.Empty:
            self.c.loop_stop()
            raise AssertionError("no CONNACK over %s" % transport)
        check(rc == expect_rc, "CONNACK %d, want %d" % (rc, expect_rc))

    def sub(self, topic, qos=0):
        self.c.subscribe(topic, qos)
        return self.subs.get(timeout=10)

    def pub(self, topic, payload, qos=0):
        info = self.c.publish(topic, payload, qos)
        info.wait_for_publish()
        return info

    def get(self, timeout=10):
        try:
            return self.msgs.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message within %ss" % timeout)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def http_get(port, path, host="127.0.0.1", method="GET", tls_ca=None):
    """(status, headers text, body) of one plain HTTP request."""
    w = RawWS(port, host=host, upgrade=False, tls_ca=tls_ca)
    w.send_raw(("%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method, path))
               .encode())
    w.read_head()
    body = w.read_body()
    w.close()
    return w.status, w.head, body


def wait_for(cond, timeout=10, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def metric(text, name, **labels):
    """The value of the first sample of that name whose labels include
    the given ones, from Prometheus text; None if absent."""
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        key, val = line.rsplit(" ", 1)
        n, _, lab = key.partition("{")
        if n != name:
            continue
        have = {}
        for kv in lab.rstrip("}").split(","):
            if "=" in kv:
                k, v = kv.split("=", 1)
                have[k] = v.strip('"')
        if all(have.get(k) == str(v) for k, v in labels.items()):
            return float(val)
    return None
