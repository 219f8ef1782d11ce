"""A real OpenSSH sshd that plays a Gerrit "stream-events" server.

The test's key is authorized with command="sh replay.sh": connection N
(1, 2, ...) gets the file stream.N (if any) and then holds the channel
open until the client or sshd goes away, like a quiet gerrit. Helpers
also play the events-log plugin over HTTP.
"""
import http.server
import json
import os
import pwd
import signal
import socketserver
import subprocess
import threading
import time
import urllib.parse
import base64
from datetime import datetime, timezone

from fhtest import free_port, need, wait_port

SSHD = "/usr/sbin/sshd"

REPLAY = """#!/bin/sh
if [ "$SSH_ORIGINAL_COMMAND" != "gerrit stream-events" ]; then
    echo "unexpected command: $SSH_ORIGINAL_COMMAND" >&2
    exit 1
fi
d='{tmp}'
n=$(cat "$d/connections" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > "$d/connections"
[ -f "$d/stream.$n" ] && cat "$d/stream.$n"
exec cat > /dev/null
"""

CONFIG = """Port {port}
ListenAddress 127.0.0.1
HostKey {tmp}/ssh_host_ed25519_key
AuthorizedKeysFile {tmp}/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
PidFile {tmp}/sshd.pid
LogLevel VERBOSE
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
"""


def keygen(path, kind="ed25519"):
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "fh",
                    "-f", path], check=True)
    with open(path + ".pub") as f:
        return f.read().strip()


class Sshd:
    def __init__(self, tmp):
        need(SSHD, "ssh-keygen")
        self.tmp = tmp
        self.port = free_port()
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.host_pub = keygen(os.path.join(tmp, "ssh_host_ed25519_key"))
        self.client_key = os.path.join(tmp, "id_client")
        client_pub = keygen(self.client_key)
        self.known_hosts = os.path.join(tmp, "known_hosts")
        with open(self.known_hosts, "w") as f:
            f.write("[127.0.0.1]:%d %s\n" % (
                self.port, " ".join(self.host_pub.split()[:2])))
        with open(os.path.join(tmp, "replay.sh"), "w") as f:
            f.write(REPLAY.format(tmp=tmp))
        with open(os.path.join(tmp, "authorized_keys"), "w") as f:
            f.write('command="sh %s/replay.sh",no-pty,no-port-forwarding '
                    '%s\n' % (tmp, client_pub))
        self.config = os.path.join(tmp, "sshd_config")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(port=self.port, tmp=tmp))
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.proc = None
        self.logf = None

    def stream(self, n, lines):
        """Set what connection n replays (lines: str or bytes)."""
        with open(os.path.join(self.tmp, "stream.%d" % n), "wb") as f:
            for line in lines:
                if isinstance(line, str):
                    line = line.encode()
                f.write(line if line.endswith(b"\n") else line + b"\n")

    def connections(self):
        try:
            with open(os.path.join(self.tmp, "connections")) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def start(self):
        self.logf = open(os.path.join(self.tmp, "sshd.log"), "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", self.config],
                                     stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        wait_port(self.port, proc=self.proc)
        return self

    def sessions(self):
        """PIDs of every process below the listening sshd."""
        if self.proc is None:
            return []
        out, todo = [], [self.proc.pid]
        while todo:
            p = todo.pop()
            try:
                with open("/proc/%d/task/%d/children" % (p, p)) as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                kids = []
            out += kids
            todo += kids
        return out

    def signal_sessions(self, sig):
        for pid in self.sessions():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def stop(self):
        """Kill sshd and every session under it (mid-stream)."""
        if self.proc is None:
            return
        kids = self.sessions()
        self.proc.kill()
        for pid in kids:
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.proc = None
        self.logf.close()

    def logtext(self):
        try:
            with open(os.path.join(self.tmp, "sshd.log"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def source(self, name="gerrit", **extra):
        """A [source NAME] block for firehose.conf."""
        keys = dict(type="gerrit", host="127.0.0.1", port=self.port,
                    user=self.user, key_file=self.client_key,
                    known_hosts=self.known_hosts)
        keys.update(extra)
        return "[source %s]\n" % name + "".join(
            "%s = %s\n" % kv for kv in keys.items())


def wait_for(cond, timeout=20.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def gerrit_time(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S")


def parse_gerrit_time(s):
    return int(datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=timezone.utc).timestamp())


class EventsLog:
    """The events-log plugin: GET ...?t1=..;t2=.. with basic auth,
    events whose eventCreatedOn is in [t1, t2], oldest first, at most
    `limit` of them (the plugin's returnLimit), one JSON per line."""

    def __init__(self, user="fh", password="s3cret", limit=5000):
        self.events = []
        self.requests = []
        self.user, self.password, self.limit = user, password, limit
        log = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                want = "Basic " + base64.b64encode(
                    ("%s:%s" % (log.user, log.password)).encode()).decode()
                if self.headers.get("Authorization") != want:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate",
                                     'Basic realm="Gerrit Code Review"')
                    self.end_headers()
                    return
                url = urllib.parse.urlsplit(self.path)
                q = {}
                for pair in url.query.replace("&", ";").split(";"):
                    if "=" in pair:
                        k, v = pair.split("=", 1)
                        q[k] = urllib.parse.unquote(v)
                try:
                    t1 = parse_gerrit_time(q["t1"])
                    t2 = parse_gerrit_time(q["t2"])
                except (KeyError, ValueError):
                    self.send_response(400)
                    self.end_headers()
                    return
                log.requests.append((t1, t2))
                t1, t2 = min(t1, t2), max(t1, t2)
                sel = [e for e in sorted(log.events,
                                         key=lambda e: e["eventCreatedOn"])
                       if t1 <= e["eventCreatedOn"] <= t2][:log.limit]
                body = "".join(json.dumps(e, separators=(",", ":")) + "\n"
                               for e in sel).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = ("http://127.0.0.1:%d/a/plugins/events-log/events/"
                    % self.port)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Subscriber:
    """A paho subscriber that waits for its SUBACK; messages in a list."""

    def __init__(self, port, topic="gerrit/#"):
        import paho.mqtt.client as mqtt
        self.msgs = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.c = mqtt.Client(client_id="", clean_session=True)
        self.c.on_connect = lambda c, u, f, rc: c.subscribe(topic, 1)
        self.c.on_subscribe = lambda c, u, mid, q: self.ready.set()
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port, 60)
        self.c.loop_start()
        if not self.ready.wait(10):
            raise AssertionError("no SUBACK from the broker")

    def _on_message(self, c, u, m):
        with self.lock:
            self.msgs.append((m.topic, bytes(m.payload)))

    def messages(self):
        with self.lock:
            return list(self.msgs)

    def wait(self, n, timeout=30.0):
        try:
            wait_for(lambda: len(self.messages()) >= n, timeout)
        except AssertionError:
            raise AssertionError("waited for %d messages, have %d: %r" % (
                n, len(self.messages()),
                [t for t, _ in self.messages()][-10:]))
        return self.messages()

    def wait_for_topic(self, topic, timeout=30.0):
        """Every message up to and including the first on topic (a
        sentinel published last)."""
        try:
            wait_for(lambda: any(t == topic for t, _ in self.messages()),
                     timeout)
        except AssertionError:
            raise AssertionError("no message on %s; have %d: %r" % (
                topic, len(self.messages()),
                [t for t, _ in self.messages()][-10:]))
        got = self.messages()
        return got[:[t for t, _ in got].index(topic) + 1]

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def metrics(port, source):
    """The source's counters from /metrics (a ws listener on port)."""
    import urllib.request
    url = "http://127.0.0.1:%d/metrics" % port
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    got = {}
    for line in text.splitlines():
        if line.startswith("firehose_source_") and \
                'source="%s"' % source in line:
            name, _, value = line.rpartition(" ")
            metric = name.partition("{")[0]
            got[metric[len("firehose_source_"):]] = float(value)
    return got
