"""Helpers for the subunit source tests: a real gearmand, a small Gearman
client speaking the binary protocol, subunit streams written by
python3-subunit and a test HTTP server for them.
"""
import datetime
import gzip
import http.server
import io
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from fhtest import free_port, wait_port

REQ, RES = b"\0REQ", b"\0RES"
SUBMIT_JOB, JOB_CREATED, WORK_COMPLETE, WORK_FAIL = 7, 8, 13, 14
WORK_EXCEPTION, SUBMIT_JOB_BG, ERROR = 25, 18, 19


class Gearmand:
    """gearmand on 127.0.0.1:<free port>, restartable on the same port."""

    def __init__(self, tmp, port=None):
        self.tmp = tmp
        self.port = port or free_port()
        self.proc = None
        self.start()

    def start(self):
        log = os.path.join(self.tmp, "gearmand-%d.log" % self.port)
        pid = os.path.join(self.tmp, "gearmand-%d.pid" % self.port)
        deadline = time.time() + 20
        while True:
            self.proc = subprocess.Popen(
                ["gearmand", "--port=%d" % self.port, "--listen=127.0.0.1",
                 "-l", log, "--pid-file", pid, "--verbose=INFO"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_port(self.port, proc=self.proc, timeout=10)
                return
            except RuntimeError:
                # the port may linger right after a stop; try again
                if time.time() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def admin(self, command):
        """The text admin protocol: lines up to the final '.'."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(command.encode() + b"\n")
        buf = b""
        while not buf.endswith(b".\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        s.close()
        return [l for l in buf.decode().splitlines() if l != "."]

    def workers(self, function):
        """How many workers registered function (from 'status')."""
        for line in self.admin("status"):
            parts = line.split("\t")
            if len(parts) == 4 and parts[0] == function:
                return int(parts[3])
        return 0

    def client_ids(self):
        """Client ids of the connections that can do something."""
        ids = []
        for line in self.admin("workers"):
            left, _, funcs = line.partition(" : ")
            if funcs.strip():
                ids.append(left.split()[-1])
        return ids

    def wait_workers(self, function, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.workers(function) >= n:
                return True
            time.sleep(0.1)
        return False


def packet(magic, ptype, *args):
    data = b"\0".join(a if isinstance(a, bytes) else a.encode()
                      for a in args)
    return magic + struct.pack("!II", ptype, len(data)) + data


def read_packet(sock):
    hdr = b""
    while len(hdr) < 12:
        chunk = sock.recv(12 - len(hdr))
        if not chunk:
            raise EOFError("gearmand closed the connection")
        hdr += chunk
    magic, ptype, size = hdr[:4], *struct.unpack("!II", hdr[4:])
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("gearmand closed the connection")
        data += chunk
    return magic, ptype, data


def submit(port, function, arg, timeout=60, unique=""):
    """Submit a foreground job; returns ("complete", data) / ("fail", b"")
    / ("exception", data) as the client sees it."""
    if not isinstance(arg, bytes):
        arg = json.dumps(arg).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(packet(REQ, SUBMIT_JOB, function, unique, arg))
    magic, ptype, data = read_packet(s)
    if ptype != JOB_CREATED:
        raise AssertionError("wanted JOB_CREATED, got %d %r" % (ptype, data))
    handle = data
    while True:
        magic, ptype, data = read_packet(s)
        h, _, rest = data.partition(b"\0")
        if h != handle:
            continue
        if ptype == WORK_COMPLETE:
            s.close()
            return "complete", rest
        if ptype == WORK_FAIL:
            s.close()
            return "fail", b""
        if ptype == WORK_EXCEPTION:
            s.close()
            return "exception", rest


class SubmitThread(threading.Thread):
    """submit() in the background; .result after join()."""

    def __init__(self, *args, **kw):
        super().__init__(daemon=True)
        self.args, self.kw, self.result = args, kw, None

    def run(self):
        try:
            self.result = submit(*self.args, **self.kw)
        except Exception as e:  # reported by the test
            self.result = ("error", str(e).encode())


def job(source_url, project="openstack/nova", change="1001", **fields):
    """A job argument as log-gearman-client.py built it."""
    f = {"filename": os.path.basename(source_url),
         "build_name": "gate-nova-python27", "build_status": "SUCCESS",
         "build_node": "ubuntu-jammy-1", "build_master": "zuul01",
         "project": project, "voting": 1, "build_uuid": "5a3f2c1d9e",
         "build_short_uuid": "5a3f2c1", "build_queue": "gate",
         "build_ref": "refs/zuul/master/Zabc", "build_branch": "master",
         "build_zuul_url": "N/A", "node_provider": "local",
         "log_url": source_url.rsplit("/", 1)[0] + "/"}
    if change is not None:
        f["build_change"] = change
        f["build_patchset"] = "3"
    f.update(fields)
    return {"source_url": source_url, "retry": False,
            "event": {"fields": f,
                      "tags": [os.path.basename(source_url)]}}


# --- subunit streams from fake test runs --------------------------------

FAKE_TESTS = '''
import unittest

class TestServers(unittest.TestCase):
    def test_create(self):
        pass

    def test_delete(self):
        pass

    def test_list(self):
        pass

    @unittest.skip("needs a cloud")
    def test_resize(self):
        pass
{extra}
'''

FAILING = '''
class TestBroken(unittest.TestCase):
    def test_boot(self):
        self.assertEqual("ACTIVE", "ERROR")

    def test_reboot(self):
        raise RuntimeError("hypervisor gone")
'''


def subunit_run(tmp, failing=False):
    """Run a fake test module under subunit.run (python3-subunit) and
    return its subunit v2 stream."""
    d = os.path.join(tmp, "fake-run-%d" % failing)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "test_fake.py"), "w") as f:
        f.write(FAKE_TESTS.format(extra=FAILING if failing else ""))
    r = subprocess.run(["/usr/bin/python3", "-m", "subunit.run",
                        "test_fake"], cwd=d, capture_output=True,
                       timeout=60)
    if not r.stdout.startswith(b"\xb3"):
        raise RuntimeError("subunit.run gave no stream: %r" % r.stderr)
    return r.stdout


def big_stream(nbytes):
    """A passing run with a large attachment (python3-subunit writer)."""
    import subunit.v2
    buf = io.BytesIO()
    out = subunit.v2.StreamResultToBytes(buf)
    t = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    out.status(test_id="big.test_log", test_status="inprogress",
               timestamp=t)
    chunk = bytes(range(256)) * 256
    sent = 0
    while sent < nbytes:
        out.status(test_id="big.test_log", file_name="log",
                   file_bytes=chunk, timestamp=t)
        sent += len(chunk)
    out.status(test_id="big.test_log", test_status="success", timestamp=t)
    return buf.getvalue()


def corrupt(stream, at):
    b = bytearray(stream)
    b[at] ^= 0x01
    return bytes(b)


# --- the HTTP server --------------------------------------------------------

class Files:
    """Serves files from a dict path -> bytes on 127.0.0.1; records every
    request; paths under /slow/ take a second, under /stall/ five;
    /ce/<path> serves <path>
    with Content-Encoding: gzip."""

    def __init__(self, cert=None, key=None):
        self.files = {}
        self.requests = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()
        files = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                # stalled requests outlive the worker's timeout: they do
                # not count as active
                counted = not self.path.startswith("/stall/")
                with files.lock:
                    files.requests.append(self.path)
                    files.active += counted
                    files.max_active = max(files.max_active, files.active)
                try:
                    self.serve()
                except (BrokenPipeError, ConnectionResetError):
                    pass    # the worker gave up on this download
                finally:
                    with files.lock:
                        files.active -= counted

            def serve(self):
                path, enc = self.path, None
                if path.startswith("/slow/"):
                    time.sleep(1)
                if path.startswith("/stall/"):
                    time.sleep(5)
                if path.startswith("/ce/"):
                    path, enc = path[3:], "gzip"
                body = files.files.get(path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if enc:
                    body = gzip.compress(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip"
                                 if path.endswith(".gz") else
                                 "application/octet-stream")
                if enc:
                    self.send_header("Content-Encoding", enc)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass    # curl dropping a kept-alive connection

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if cert is not None:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                                server_side=True)
            self.scheme = "https"
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.port, path)

    def add(self, path, data, gz=False):
        if gz:
            self.files[path + ".gz"] = gzip.compress(data)
        else:
            self.files[path] = data

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
